"""The Python SDK's high-level Client (mode "auto": it probes server/discover
first and falls back to initialize) through the gateway; prints the
negotiated protocol version and a tool call's answer as JSON.

usage: auto_client.py URL TOKEN
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main(url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with create_mcp_http_client(headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            tools = await client.list_tools()
            result = await client.call_tool("echo", {"message": "hello modern"})
            texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
            print(json.dumps({
                "protocol_version": client.protocol_version,
                "tools": len(tools.tools),
                "echo": texts,
            }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""))

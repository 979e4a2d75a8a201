"""Calls the sandbox suite's hostile server's ordinary tools through the
gateway with the official Python MCP SDK and prints one JSON object: each
tool's JSON answer, for the Rust test to check.

usage: sandbox_client.py URL TOKEN HTTP_URL
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def answer_of(result):
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    return json.loads(texts[0]) if texts else None


async def main(url: str, token: str, http_url: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    out = {}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                out["tools"] = sorted(t.name for t in tools.tools)
                out["echo"] = answer_of(await session.call_tool("echo", {"text": "through the SDK"}))
                out["write_and_read"] = answer_of(
                    await session.call_tool("write_and_read", {"name": "sdk.txt", "text": "kept"}))
                out["http_get"] = answer_of(await session.call_tool("http_get", {"url": http_url}))
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))

"""Drives a deployment through the gateway with the official Python MCP SDK's
low-level ClientSession (initialize handshake, 2025-11-25) and prints one JSON
object with what came back, for the Rust test to check.

usage: session_client.py URL TOKEN
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def text_of(result):
    return [c.text for c in result.content if getattr(c, "type", None) == "text"]


async def main(url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = {}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out["protocol_version"] = init.protocol_version
                out["server_name"] = init.server_info.name
                tools = await session.list_tools()
                out["tools"] = sorted(t.name for t in tools.tools)
                echo = await session.call_tool("echo", {"message": "hello through the gateway"})
                out["echo"] = text_of(echo)
                total = await session.call_tool("get-sum", {"a": 40, "b": 2})
                out["sum"] = text_of(total)
                env = await session.call_tool("get-env", {})
                out["env"] = text_of(env)
                prompts = await session.list_prompts()
                out["prompts"] = sorted(p.name for p in prompts.prompts)
                resources = await session.list_resources()
                uri = resources.resources[0].uri
                read_back = await session.read_resource(uri)
                out["resource_uri"] = str(uri)
                out["resource_text_len"] = sum(len(getattr(c, "text", "") or "") for c in read_back.contents)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""))

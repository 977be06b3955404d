"""A real MCP client (the official Python SDK) drives `pm mcp` started inside a worktree.

Usage: client.py PM_BINARY WORKTREE
It lists the tools, calls pm_close_agent with status "completed" and no session id, and prints
one JSON line with what it saw. Exit status 0 when every call succeeded.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(pm: str, worktree: str) -> None:
    params = StdioServerParameters(command=pm, args=["mcp"], cwd=worktree)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool("pm_close_agent", {"status": "completed"})
            print(json.dumps({
                "protocol": init.protocolVersion,
                "server": init.serverInfo.name,
                "tools": sorted(t.name for t in tools.tools),
                "is_error": result.isError,
                "text": [c.text for c in result.content if c.type == "text"],
                "structured": result.structuredContent,
            }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

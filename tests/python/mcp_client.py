"""An MCP client for the tests: the official MCP Python SDK (PyPI `mcp`), driven by steps.

    mcp_client.py --url http://127.0.0.1:8888/mcp [--header 'Authorization: Bearer s']
                  [--mode auto|legacy] [--elicit yes|no] < steps
    mcp_client.py --stdio miwa mcp --url http://… < steps

Each line of standard input is one step, a JSON object; each answer is one JSON line:
    {"op": "list"}                     -> {"tools": [...], "invalid_schemas": [...]}
    {"op": "call", "tool": t, "args": {...}}
        -> {"is_error": b, "text": "...", "structured": {...} | null, "asked": [questions]}
           or {"error": {"code": c, "message": m}} for a protocol error,
           or {"exception": "..."} when the connection failed
    {"op": "info"}                     -> {"protocol": version}
    {"op": "resources"}                -> {"resources": [uri, ...]}
    {"op": "read", "uri": u}           -> {"text": "..."} or {"error": ...}
    {"op": "watch_resource", "uri": u, "trigger": [argv...], "timeout": s}
        -> {"updated": b, "text": "..."}: subscribes to the resource (`subscriptions/listen`
           on 2026-07-28, `resources/subscribe` before), runs the trigger, says whether an
           update came within the timeout, and reads the resource then
    {"op": "subscribe", "uri": u} / {"op": "unsubscribe", "uri": u}
        -> {"done": true} or {"error": ...}: `resources/subscribe` and `unsubscribe`
           (revisions with sessions)
    {"op": "listen", "uris": [u, ...], "timeout": s}
        -> {"acknowledged": b, "ended": why | null}: `subscriptions/listen` (2026-07-28)
           on the resources, and how the stream ended within the timeout (null: open)
    {"op": "watch_tools", "trigger": [argv...], "timeout": s}
        -> {"changed": b, "tools": n}: listens for tool list changes (`subscriptions/listen`
           on 2026-07-28, the session's stream before), runs the trigger command, and says
           whether a change came within the timeout and how many tools there are then
The steps run in one connection (one session where the protocol has them).
"""

import argparse
import asyncio
import json
import sys

import anyio
import httpx2
import mcp_types as types
import jsonschema
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def dump(value):
    return value.model_dump(mode="json", by_alias=True, exclude_none=True)


async def watch_tools(client, step, list_changed):
    timeout = step.get("timeout", 10)
    changed = False
    if client.session.discover_result is not None and client.session.initialize_result is None:
        async with client.listen(tools_list_changed=True) as subscription:
            # The server sets the subscription up just after acknowledging it.
            await anyio.sleep(0.5)
            await anyio.run_process(step["trigger"])
            with anyio.move_on_after(timeout):
                async for _event in subscription:
                    changed = True
                    break
    else:
        list_changed.clear()
        await anyio.run_process(step["trigger"])
        with anyio.move_on_after(timeout):
            await list_changed.wait()
            changed = True
    tools = (await client.list_tools()).tools
    return {"changed": changed, "tools": len(tools)}


async def watch_resource(client, step, updated):
    timeout = step.get("timeout", 10)
    uri = step["uri"]
    seen = False
    if client.session.discover_result is not None and client.session.initialize_result is None:
        async with client.listen(resource_subscriptions=[uri]) as subscription:
            # The server sets the subscription up just after acknowledging it.
            await anyio.sleep(0.5)
            await anyio.run_process(step["trigger"])
            with anyio.move_on_after(timeout):
                async for _event in subscription:
                    seen = True
                    break
    else:
        updated.clear()
        await client.session.subscribe_resource(uri)
        await anyio.run_process(step["trigger"])
        with anyio.move_on_after(timeout):
            await updated.wait()
            seen = True
    read = await client.read_resource(uri)
    return {"updated": seen, "text": "".join(c.text for c in read.contents if hasattr(c, "text"))}


async def listen(client, step):
    ended = None
    acknowledged = False
    try:
        async with client.listen(resource_subscriptions=step["uris"]) as subscription:
            acknowledged = True
            with anyio.move_on_after(step.get("timeout", 3)):
                async for _event in subscription:
                    pass
                ended = "closed"
    except MCPError as error:
        ended = f"error {error.error.code}: {error.error.message}"
    except Exception as error:  # an error after the acknowledgment: the cause says it
        cause = error.__cause__
        if isinstance(cause, MCPError):
            ended = f"error {cause.error.code}: {cause.error.message}"
        else:
            ended = f"{type(error).__name__}: {error}"
    return {"acknowledged": acknowledged, "ended": ended}


class Flag:
    """An event that can be cleared: set by each tool list change notification."""

    def __init__(self):
        self.event = anyio.Event()

    def clear(self):
        self.event = anyio.Event()

    def set(self):
        self.event.set()

    async def wait(self):
        await self.event.wait()


async def run(args, steps):
    if args.stdio:
        server = StdioServerParameters(command=args.stdio[0], args=args.stdio[1:])
    else:
        headers = dict(h.split(": ", 1) for h in args.header)
        http = httpx2.AsyncClient(headers=headers, timeout=30)
        server = streamable_http_client(args.url, http_client=http)
    list_changed = Flag()
    resource_updated = Flag()

    async def on_message(message):
        if isinstance(message, types.ResourceUpdatedNotification):
            resource_updated.set()
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root if hasattr(message, "root") else message, types.ToolListChangedNotification
        ):
            list_changed.set()
        elif isinstance(message, types.ToolListChangedNotification):
            list_changed.set()

    asked = []

    async def on_elicit(context, params):
        asked.append(params.message)
        if args.elicit == "yes":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    options = {"elicitation_callback": on_elicit} if args.elicit else {}
    async with Client(server, mode=args.mode, message_handler=on_message, **options) as client:
        for step in steps:
            op = step["op"]
            try:
                if op == "list":
                    tools = [dump(t) for t in (await client.list_tools()).tools]
                    invalid = []
                    for tool in tools:
                        try:
                            jsonschema.Draft202012Validator.check_schema(tool["inputSchema"])
                        except jsonschema.SchemaError as error:
                            invalid.append({"tool": tool["name"], "why": str(error)[:200]})
                    answer = {"tools": tools, "invalid_schemas": invalid}
                elif op == "call":
                    result = await client.call_tool(step["tool"], step.get("args", {}))
                    text = "".join(c.text for c in result.content if hasattr(c, "text"))
                    answer = {
                        "is_error": bool(result.is_error),
                        "text": text,
                        "structured": result.structured_content,
                        "asked": asked[:],
                    }
                    asked.clear()
                elif op == "resources":
                    listed = (await client.list_resources()).resources
                    answer = {"resources": [str(r.uri) for r in listed]}
                elif op == "read":
                    read = await client.read_resource(step["uri"])
                    answer = {"text": "".join(c.text for c in read.contents if hasattr(c, "text"))}
                elif op == "watch_resource":
                    answer = await watch_resource(client, step, resource_updated)
                elif op == "subscribe":
                    await client.session.subscribe_resource(step["uri"])
                    answer = {"done": True}
                elif op == "unsubscribe":
                    await client.session.unsubscribe_resource(step["uri"])
                    answer = {"done": True}
                elif op == "listen":
                    answer = await listen(client, step)
                elif op == "watch_tools":
                    answer = await watch_tools(client, step, list_changed)
                elif op == "info":
                    session = client.session
                    result = session.initialize_result or session.discover_result
                    answer = {"protocol": str(getattr(result, "protocol_version", None) or
                                              getattr(result, "supported_versions", [None])[-1])}
                else:
                    answer = {"bad_step": step}
            except MCPError as error:
                answer = {"error": {"code": error.error.code, "message": error.error.message}}
            except Exception as error:  # the connection itself failed
                answer = {"exception": f"{type(error).__name__}: {error}"}
            print(json.dumps(answer), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--elicit", choices=["yes", "no"], help="answer elicitations so")
    parser.add_argument("--stdio", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    steps = [json.loads(line) for line in sys.stdin if line.strip()]
    try:
        asyncio.run(run(args, steps))
    except BaseException as error:  # closing a connection the server dropped (after kill)
        print(f"mcp_client: {type(error).__name__}: {error}", file=sys.stderr)


if __name__ == "__main__":
    main()

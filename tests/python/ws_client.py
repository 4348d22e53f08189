"""A WebSocket client for the tests, on the `websockets` library (PyPI).

Usage: ws_client.py URL [--header NAME:VALUE] [--origin ORIGIN] [--wait SECONDS]
Reads frames to send from stdin, one JSON line each: {"text": "..."} or {"binary": "..."}.
Sends them all, then prints every frame received until none arrives for --wait seconds or
the server closes: one JSON line per frame, {"text": ...}, then {"closed": code}. A refused
handshake prints {"refused": status}.
"""
import argparse
import asyncio
import json
import sys

import websockets


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--origin")
    parser.add_argument("--wait", type=float, default=1.0)
    args = parser.parse_args()
    headers = [tuple(h.split(":", 1)) for h in args.header]
    frames = [json.loads(line) for line in sys.stdin if line.strip()]
    try:
        socket = await websockets.connect(
            args.url,
            additional_headers=headers,
            origin=args.origin,
            max_size=None,
        )
    except websockets.exceptions.InvalidStatus as refused:
        print(json.dumps({"refused": refused.response.status_code}))
        return
    async with socket:
        for frame in frames:
            if "text" in frame:
                await socket.send(frame["text"])
            else:
                await socket.send(frame["binary"].encode())
        while True:
            try:
                message = await asyncio.wait_for(socket.recv(), args.wait)
            except asyncio.TimeoutError:
                break
            except websockets.exceptions.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                print(json.dumps({"closed": code}))
                return
            print(json.dumps({"text": message}))
        print(json.dumps({"open": True}))


asyncio.run(main())

"""A WebSocket client for the tests, on the `websockets` library (PyPI).

Usage: ws_client.py URL [--header NAME:VALUE] [--origin ORIGIN] [--wait SECONDS]
                    [--cafile PEM] [--notifications N] [--subprotocol NAME]
Reads frames to send from stdin, one JSON line each: {"text": "..."} or {"binary": "..."}.
Sends them all, then prints every frame received until none arrives for --wait seconds or
the server closes: one JSON line per frame, {"text": ...}, then {"closed": code}. A refused
handshake prints {"refused": status}. Every line is flushed as it is printed.

With --notifications N, JSON-RPC notifications (frames with a method and no id) are
counted instead of printed; once N have arrived it prints {"notifications": N, "last": text}
and closes.
"""
import argparse
import asyncio
import json
import ssl
import sys

import websockets


def emit(line: dict) -> None:
    print(json.dumps(line), flush=True)


def is_notification(message) -> bool:
    try:
        parsed = json.loads(message)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "method" in parsed and "id" not in parsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--origin")
    parser.add_argument("--wait", type=float, default=1.0)
    parser.add_argument("--notifications", type=int)
    parser.add_argument("--cafile", help="certificates to trust for wss://")
    parser.add_argument("--subprotocol", action="append", default=None)
    args = parser.parse_args()
    headers = [tuple(h.split(":", 1)) for h in args.header]
    frames = [json.loads(line) for line in sys.stdin if line.strip()]
    try:
        socket = await websockets.connect(
            args.url,
            additional_headers=headers,
            origin=args.origin,
            max_size=None,
            subprotocols=args.subprotocol,
            ssl=ssl.create_default_context(cafile=args.cafile) if args.cafile else None,
        )
    except websockets.exceptions.InvalidStatus as refused:
        emit({"refused": refused.response.status_code})
        return
    if socket.subprotocol:
        emit({"subprotocol": socket.subprotocol})
    async with socket:
        for frame in frames:
            if "text" in frame:
                await socket.send(frame["text"])
            else:
                await socket.send(frame["binary"].encode())
        counted = 0
        while True:
            try:
                message = await asyncio.wait_for(socket.recv(), args.wait)
            except asyncio.TimeoutError:
                break
            except websockets.exceptions.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                emit({"closed": code})
                return
            if args.notifications is not None and is_notification(message):
                counted += 1
                if counted == args.notifications:
                    emit({"notifications": counted, "last": message})
                    return
                continue
            emit({"text": message})
        if args.notifications is not None:
            emit({"notifications": counted})
        emit({"open": True})


asyncio.run(main())

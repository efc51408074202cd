"""Python `websockets` echo server for websock's interop client (examples/interop-client.rs).

    python server.py [--port 0] [--compression on|off]

Echoes text and binary messages as the same type; answers the text message "close-me" by
closing with 4002 "server-close". permessage-deflate is accepted when a client offers it
(unless --compression off). Prints `listening on ws://127.0.0.1:PORT` once it accepts
connections. Used by tests/interop/run.sh.
"""

import argparse
import asyncio

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def handler(ws):
    try:
        async for msg in ws:
            if msg == "close-me":
                await ws.close(4002, "server-close")
                return
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--compression", choices=["on", "off"], default="on")
    args = p.parse_args()
    async with serve(
        handler,
        "127.0.0.1",
        args.port,
        compression="deflate" if args.compression == "on" else None,
        max_size=64 << 20,
        ping_interval=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

"""Python `websockets` client against websock's echo server (examples/echo-server.rs).

    python client.py --url ws://127.0.0.1:PORT/ --compression on|off --expect-deflate 0|1

Prints one line per case, `PASS name` or `FAIL name: why`, and exits 1 if any case failed.
`--compression on` offers permessage-deflate; it must then be negotiated exactly when
`--expect-deflate 1` (websock's server supports it), and never with `--compression off`.
Used by tests/interop/run.sh.
"""

import argparse
import asyncio
import os
import sys
import time

from websockets.asyncio.client import connect

BIG = 16 << 20
TIMEOUT = 20  # seconds for any one case


class Runner:
    def __init__(self, args):
        self.url = args.url
        self.compression = args.compression == "on"
        self.expect_deflate = self.compression and args.expect_deflate == "1"
        self.failed = 0

    def report(self, name, why=None):
        if why is None:
            print(f"PASS {name}", flush=True)
        elif isinstance(why, Note):
            print(f"PASS {name}: {why}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {why}".replace("\n", " "), flush=True)

    def connect(self):
        return connect(
            self.url,
            compression="deflate" if self.compression else None,
            max_size=64 << 20,
            ping_interval=None,  # no keepalive pings of its own in the middle of the cases
            open_timeout=TIMEOUT,
            close_timeout=10,
        )

    async def case(self, name, body):
        try:
            why = await asyncio.wait_for(body(), TIMEOUT)
        except Exception as e:  # noqa: BLE001 - any failure is the case's failure
            why = f"{type(e).__name__}: {e}"
        self.report(name, why)
        return why is None or isinstance(why, Note)

    async def run(self):
        ws = None

        async def handshake():
            nonlocal ws
            ws = await self.connect()
            ext = ws.response.headers.get("Sec-WebSocket-Extensions")
            if self.expect_deflate:
                if not ext or not ext.strip().startswith("permessage-deflate"):
                    return f"offered permessage-deflate, response has extensions {ext!r}"
            elif ext is not None:
                return f"expected no Sec-WebSocket-Extensions, got {ext!r}"
            return None

        def echo(msg):
            async def body():
                await ws.send(msg)
                back = await ws.recv()
                if back != msg:
                    return f"sent {describe(msg)}, got {describe(back)}"
                return None

            return body

        def fragmented(parts, text, whole):
            async def body():
                await ws.send(parts, text=text)
                back = await ws.recv()
                if back != whole:
                    return f"expected {describe(whole)}, got {describe(back)}"
                return None

            return body

        async def ping_pong():
            payload = b"interop \x00\xff ping"
            # The waiter resolves only on a pong that carries this very payload.
            waiter = await ws.ping(payload)
            await waiter
            return None

        async def close_4001():
            started = time.monotonic()
            await ws.close(4001, "client-close")
            rcvd = ws.protocol.close_rcvd
            # websock echoes the code (RFC 6455 5.5.1) and the reason.
            if rcvd is None or rcvd.code != 4001 or rcvd.reason != "client-close":
                return f"expected the close echoed as 4001 'client-close', got {rcvd}"
            took = time.monotonic() - started
            # websockets waits (close_timeout) for the server to close TCP after the handshake.
            if took > 3:
                return f"close handshake and TCP close took {took:.1f} s"
            return None

        big = os.urandom(BIG)
        cases = [
            ("handshake", handshake),
            ("text", echo("héllo ✓ websock")),
            ("binary", echo(bytes([0, 1, 2, 253, 254, 255]))),
            ("binary 16 MiB", echo(big)),
            ("text 16 MiB", echo("websock ✓ " * (BIG // 12))),
            # Text fragments split the code points of "é" and "✓"; websockets ends the
            # message with an empty final frame.
            (
                "fragmented text",
                fragmented(
                    [b"frag-1 caf\xc3", b"\xa9 frag-2 \xe2\x9c", b"\x93 frag-3"],
                    True,
                    "frag-1 café frag-2 ✓ frag-3",
                ),
            ),
            (
                "fragmented binary",
                fragmented(
                    [b"\x00\x01\x02", b"\xab" * 70000, b"\xfd\xfe\xff"],
                    False,
                    b"\x00\x01\x02" + b"\xab" * 70000 + b"\xfd\xfe\xff",
                ),
            ),
            ("ping/pong", ping_pong),
            ("close 4001 echoed", close_4001),
        ]
        for name, body in cases:
            if ws is None and name != "handshake":
                # An earlier failure dropped the connection: a fresh one for this case.
                try:
                    ws = await self.connect()
                except Exception as e:  # noqa: BLE001
                    self.report(name, f"reconnect failed: {e}")
                    continue
            if not await self.case(name, body) and ws is not None:
                ws.transport.abort()
                ws = None
        return self.failed


class Note(str):
    """A passing case's remark, for the table."""


def describe(m):
    if isinstance(m, str):
        return repr(m) if len(m) <= 60 else f"text of {len(m.encode())} bytes"
    if isinstance(m, (bytes, bytearray)):
        return repr(bytes(m)) if len(m) <= 16 else f"binary of {len(m)} bytes"
    return repr(m)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--compression", choices=["on", "off"], default="off")
    p.add_argument("--expect-deflate", choices=["0", "1"], default="0")
    failed = asyncio.run(Runner(p.parse_args()).run())
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Hostile peers against a running echo server, measured from outside (raw sockets, stdlib only).

    python3 bench-echo/hostile/attacks.py --addr 127.0.0.1:9001 --pid PID [--only NAME ...]

Each attack reports what it cost the server: resident memory (VmRSS of --pid, sampled every
10 ms) and, for the fairness attack, the echo round trips of a well-behaved client. This is a
benchmark, not a test: it prints numbers and judges nothing.

  bomb        one compressed frame that inflates to 1 GiB (must be refused at the limit)
  amplify     4 clients offer server_max_window_bits=8, send a message that inflates to ~16 MiB
              and never read; memory held, and how long until the server lets go
  header      500 connections each send only a frame header declaring 64 MiB
  trickle     one byte of a frame every 2 s, never reading: seconds until the server drops it
  stall       4 clients upload messages that inflate to ~16 MiB in a loop while a well-behaved
              client echoes 16-byte messages: its round-trip percentiles
"""
import argparse
import asyncio
import base64
import os
import socket
import struct
import sys
import time
import zlib

KEY = base64.b64encode(os.urandom(16)).decode()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler:
    """Peak RSS over a stretch of time."""

    def __init__(self, pid):
        self.pid, self.peak, self.task = pid, 0, None

    async def run(self):
        while True:
            self.peak = max(self.peak, rss_kib(self.pid))
            await asyncio.sleep(0.01)

    def __enter__(self):
        self.peak = rss_kib(self.pid)
        self.task = asyncio.get_event_loop().create_task(self.run())
        return self

    def __exit__(self, *a):
        self.task.cancel()


def frame(opcode, payload, fin=True, rsv1=False, mask=True):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    ints = int.from_bytes(payload, "little") if payload else 0
    k = int.from_bytes((key * (n // 4 + 1))[:n], "little") if n else 0
    return head + key + (ints ^ k).to_bytes(n, "little")


async def connect(addr, extensions=None):
    host, port = addr.rsplit(":", 1)
    r, w = await asyncio.open_connection(host, int(port))
    ext = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    w.write(
        (
            f"GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        ).encode()
    )
    head = await r.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode(errors="replace"))
    return r, w


def deflate(data, chunk=1 << 20):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [c.compress(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    out.append(c.flush(zlib.Z_SYNC_FLUSH))
    body = b"".join(out)
    return body[:-4] if body.endswith(b"\x00\x00\xff\xff") else body


def bomb_payload(size):
    """Compressed zeros that inflate to `size` bytes, built without holding `size` in memory."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    out = [c.compress(block) for _ in range(size >> 20)]
    out.append(c.flush(zlib.Z_SYNC_FLUSH))
    body = b"".join(out)
    return body[:-4]


async def read_frame(r):
    b0, b1 = await r.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await r.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await r.readexactly(8))
    return b0, await r.readexactly(n)


async def bomb(args):
    payload = bomb_payload(1 << 30)
    base = rss_kib(args.pid)
    with Sampler(args.pid) as s:
        r, w = await connect(args.addr, "permessage-deflate")
        w.write(frame(0x2, payload, rsv1=True))
        await w.drain()
        try:
            b0, body = await asyncio.wait_for(read_frame(r), 10)
            code = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None
        except Exception as e:
            code = f"no close frame ({e.__class__.__name__})"
        w.close()
        await asyncio.sleep(0.2)
    print(f"bomb: {len(payload)} B on the wire inflating to 1 GiB: close {code}, "
          f"peak RSS +{(s.peak - base) / 1024:.1f} MiB")


async def amplify(args):
    size = 16 << 20
    payload = bomb_payload(size)
    base = rss_kib(args.pid)
    conns = []
    with Sampler(args.pid) as s:
        for _ in range(4):
            r, w = await connect(args.addr, "permessage-deflate; server_max_window_bits=8")
            w.write(frame(0x2, payload, rsv1=True))
            await w.drain()
            conns.append((r, w))
        await asyncio.sleep(2)
        held = rss_kib(args.pid) - base
        start = time.time()
        released = None
        while time.time() - start < args.amplify_wait:
            if rss_kib(args.pid) - base < 4096:
                released = time.time() - start
                break
            await asyncio.sleep(0.5)
    for _, w in conns:
        w.close()
    sent = 4 * len(payload) // 1024
    print(f"amplify: 4 x {len(payload)} B sent, never read: held {held / 1024:.1f} MiB after 2 s "
          f"(peak +{(s.peak - base) / 1024:.1f} MiB) for {sent} KiB received; "
          f"released {'after %.1f s more' % released if released is not None else 'not within %d s' % args.amplify_wait}")


async def header(args):
    n = 500
    base = rss_kib(args.pid)
    conns = []
    for _ in range(n):
        r, w = await connect(args.addr)
        conns.append((r, w))
    await asyncio.sleep(0.5)
    idle = rss_kib(args.pid)
    head = struct.pack("!BBQ", 0x82, 0xFF, 64 << 20) + os.urandom(4)
    for _, w in conns:
        w.write(head)
        await w.drain()
    await asyncio.sleep(1)
    after = rss_kib(args.pid)
    for _, w in conns:
        w.close()
    print(f"header: {n} connections: idle {(idle - base) * 1024 / n:.0f} B/conn; a 14-byte header "
          f"declaring 64 MiB adds {(after - idle) * 1024 / n:.0f} B/conn")


async def trickle(args):
    r, w = await connect(args.addr)
    data = frame(0x2, bytes(1000))
    start = time.time()
    dropped = None
    for i in range(len(data)):
        try:
            w.write(data[i : i + 1])
            await w.drain()
        except (ConnectionError, OSError):
            dropped = time.time() - start
            break
        await asyncio.sleep(2)
        if r.at_eof() or w.transport.is_closing():
            dropped = time.time() - start
            break
        if time.time() - start > args.trickle_wait:
            break
        # Never read: the kernel buffers what the server sends (its pings).
    w.close()
    print(f"trickle: one byte every 2 s, never reading: "
          f"{'dropped after %.0f s' % dropped if dropped else 'still open after %d s' % args.trickle_wait}")


async def stall(args):
    size = 15 << 20
    payload = bomb_payload(size)
    stop = asyncio.Event()

    async def uploader():
        r, w = await connect(args.addr, "permessage-deflate")

        async def drain_replies():
            try:
                while await r.read(1 << 20):
                    pass
            except Exception:
                pass

        t = asyncio.get_event_loop().create_task(drain_replies())
        try:
            while not stop.is_set():
                w.write(frame(0x2, payload, rsv1=True))
                await w.drain()
        finally:
            t.cancel()
            w.close()

    ups = [asyncio.get_event_loop().create_task(uploader()) for _ in range(4)]
    await asyncio.sleep(1)
    r, w = await connect(args.addr)
    rtts = []
    end = time.time() + args.stall_seconds
    while time.time() < end:
        t0 = time.perf_counter()
        w.write(frame(0x2, b"0123456789abcdef"))
        await w.drain()
        await read_frame(r)
        rtts.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.01)
    stop.set()
    w.close()
    for u in ups:
        u.cancel()
    await asyncio.gather(*ups, return_exceptions=True)
    rtts.sort()
    pct = lambda p: rtts[min(len(rtts) - 1, int(len(rtts) * p))]
    print(f"stall: 4 uploaders of {len(payload)} B inflating to {size >> 20} MiB: a 16-byte echo "
          f"took p50 {pct(0.5):.1f} ms, p95 {pct(0.95):.1f} ms, max {rtts[-1]:.1f} ms "
          f"({len(rtts)} round trips)")


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--addr", default="127.0.0.1:9001")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--only", nargs="*")
    p.add_argument("--amplify-wait", type=int, default=70)
    p.add_argument("--trickle-wait", type=int, default=90)
    p.add_argument("--stall-seconds", type=int, default=10)
    args = p.parse_args()
    for name in ["bomb", "header", "stall", "amplify", "trickle"]:
        if not args.only or name in args.only:
            await globals()[name](args)
            await asyncio.sleep(1)


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""A soak with attackers: starts the echo server, holds many idle connections, runs echoing
clients, mixes in the attacks of attacks.py for a while, lets the attackers leave, and reports
the well-behaved clients' latency and the server's memory. A benchmark, not a test.

    python3 bench-echo/hostile/soak.py [--server target/release/examples/echo-server]
        [--sync] [--idle 10000] [--clients 100] [--attack-seconds 120] [--port 9301]

Reports: echo latency percentiles (p50/p95/p99/max) of the clients during the attacks, the
server's RSS at baseline (idle connections and clients connected, before any attack), its peak,
and after the attackers left (polled for up to --settle seconds until within 10% of baseline).
"""
import argparse
import asyncio
import os
import resource
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attacks  # noqa: E402

MSG = b"x" * 64


async def idle_conn(addr, held):
    try:
        r, w = await attacks.connect(addr)
        held.append((r, w))
        # Answer the server's keepalive pings, as a real idle client would.
        while True:
            b0, body = await attacks.read_frame(r)
            if b0 & 0x0F == 0x9:
                w.write(attacks.frame(0xA, body))
    except Exception:
        pass


async def echo_client(addr, rtts, stop):
    r, w = await attacks.connect(addr)
    while not stop.is_set():
        t0 = time.perf_counter()
        w.write(attacks.frame(0x2, MSG))
        await w.drain()
        while True:
            b0, body = await attacks.read_frame(r)
            if b0 & 0x0F == 0x9:
                w.write(attacks.frame(0xA, body))
                continue
            break
        rtts.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.05)
    w.close()


async def attacker_loop(addr, stop, counts):
    """One attack after another until told to stop; every attacker leaves (closes) at the end."""
    socks = []
    bomb = attacks.bomb_payload(64 << 20)
    big = attacks.bomb_payload(15 << 20)
    i = 0
    while not stop.is_set():
        kind = i % 5
        i += 1
        try:
            if kind == 0:  # bomb past the limit
                r, w = await attacks.connect(addr, "permessage-deflate")
                w.write(attacks.frame(0x2, bomb, rsv1=True))
                socks.append(w)
            elif kind == 1:  # headers declaring 64 MiB, nothing more
                for _ in range(50):
                    r, w = await attacks.connect(addr)
                    w.write(struct.pack("!BBQ", 0x82, 0xFF, 64 << 20) + os.urandom(4))
                    socks.append(w)
            elif kind == 2:  # amplification: a large echo that is never read
                r, w = await attacks.connect(addr, "permessage-deflate; server_max_window_bits=8")
                w.write(attacks.frame(0x2, big, rsv1=True))
                socks.append(w)
            elif kind == 3:  # uploads that inflate to 15 MiB, replies drained
                r, w = await attacks.connect(addr, "permessage-deflate")
                for _ in range(3):
                    w.write(attacks.frame(0x2, big, rsv1=True))
                    await w.drain()
                socks.append(w)
            else:  # trickle: one byte of a frame
                r, w = await attacks.connect(addr)
                w.write(attacks.frame(0x2, bytes(1000))[:3])
                socks.append(w)
            counts[kind] = counts.get(kind, 0) + 1
        except Exception:
            pass
        await asyncio.sleep(0.5)
    for w in socks:
        w.close()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", default="target/release/examples/echo-server")
    p.add_argument("--sync", action="store_true")
    p.add_argument("--idle", type=int, default=10000)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--attack-seconds", type=int, default=120)
    p.add_argument("--settle", type=int, default=90)
    p.add_argument("--port", type=int, default=9301)
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    addr = f"127.0.0.1:{args.port}"
    cmd = [args.server, "--addr", addr] + (["--sync"] if args.sync else [])
    server = subprocess.Popen(
        cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard)),
    )
    try:
        await asyncio.sleep(0.5)
        held, tasks = [], []
        for _ in range(args.idle):
            tasks.append(asyncio.ensure_future(idle_conn(addr, held)))
            if len(tasks) % 500 == 0:
                await asyncio.sleep(0.05)
        while len(held) < args.idle * 0.99:
            await asyncio.sleep(0.2)
        stop_clients, rtts = asyncio.Event(), []
        clients = [asyncio.ensure_future(echo_client(addr, rtts, stop_clients))
                   for _ in range(args.clients)]
        await asyncio.sleep(3)
        baseline = attacks.rss_kib(server.pid)
        quiet = list(rtts)
        rtts.clear()
        stop_attacks, counts = asyncio.Event(), {}
        with attacks.Sampler(server.pid) as s:
            atk = asyncio.ensure_future(attacker_loop(addr, stop_attacks, counts))
            await asyncio.sleep(args.attack_seconds)
            stop_attacks.set()
            await atk
            during = list(rtts)
            start = time.time()
            final = attacks.rss_kib(server.pid)
            while time.time() - start < args.settle and final > baseline * 1.1:
                await asyncio.sleep(1)
                final = attacks.rss_kib(server.pid)
            settled = time.time() - start
        fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        stop_clients.set()
        mode = "sync" if args.sync else "tokio"
        print(f"soak ({mode}): {len(held)} idle connections, {args.clients} echo clients, "
              f"{args.attack_seconds} s of attacks {dict(sorted(counts.items()))} "
              f"(0 bomb, 1 50 x header, 2 amplify, 3 upload, 4 trickle)")
        print(f"  echo latency before attacks: p50 {pct(quiet, .5):.1f} ms, p95 {pct(quiet, .95):.1f} ms")
        print(f"  echo latency during attacks: p50 {pct(during, .5):.1f} ms, p95 {pct(during, .95):.1f} ms, "
              f"p99 {pct(during, .99):.1f} ms, max {max(during):.1f} ms ({len(during)} echoes)")
        print(f"  server RSS: baseline {baseline / 1024:.1f} MiB, peak {s.peak / 1024:.1f} MiB, "
              f"after the attackers left {final / 1024:.1f} MiB "
              f"({(final / baseline - 1) * 100:+.1f}% of baseline, {settled:.0f} s after they left); "
              f"{fds} file descriptors open (connections held + listener + stdio)")
    finally:
        server.kill()


if __name__ == "__main__":
    asyncio.run(main())

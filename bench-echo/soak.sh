#!/usr/bin/env bash
# Soak: many short connections against websock's tokio echo server, to catch leaks. Each
# connection opens, handshakes, sends one message, checks the echo byte for byte and closes
# with a close handshake; they come in waves. The server's resident set must come back to
# within 10% of where it was, and its open file descriptors to exactly where they were.
#
#   bash bench-echo/soak.sh                          # 100,000 connections, ~1-2 min
#   SOAK_CONNECTIONS=5000 bash bench-echo/soak.sh    # smoke test
#
# The "before" numbers are taken after a warm-up of SOAK_WARMUP connections (5 waves), so the
# allocator already holds what a wave needs: growth past that is what a leak would show (100
# bytes a connection would be about 10 MB over 100,000 connections).
# Environment: SOAK_CONNECTIONS=100000, SOAK_WAVE=1000, SOAK_WARMUP=5*SOAK_WAVE, SOAK_PAYLOAD=128, SETTLE=2,
#   SOAK_SERVER=websock-tokio (any servers --kind), SOAK_SOURCE_IPS=1 (spread over
#   127.0.0.1..K), OUT=bench-echo/results/soak-<time>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

TOTAL=${SOAK_CONNECTIONS:-100000}
WAVE=${SOAK_WAVE:-1000}
PAYLOAD=${SOAK_PAYLOAD:-128}
SETTLE=${SETTLE:-2}
WARMUP_CONNECTIONS=${SOAK_WARMUP:-$((WAVE * 5))}
KIND=${SOAK_SERVER:-websock-tokio}
SOURCE_IPS=${SOAK_SOURCE_IPS:-1}
OUT=${OUT:-$here/results/soak-$(date +%Y%m%d-%H%M%S)}

build
raise_nofile $((WAVE * 2 + 1024))
mkdir -p "$OUT"
trap stop_server EXIT

addr=$(next_addr)
start_server "$KIND" "$addr"
soak() {
    pin "$LOADGEN_CPU" "$BIN/loadgen" --addr "$addr" --soak --connections "$1" --wave "$WAVE" \
        --payload "$PAYLOAD" --source-ips "$SOURCE_IPS"
}

echo "bench-echo: soak of $KIND: warm-up of $WARMUP_CONNECTIONS connections" >&2
soak "$WARMUP_CONNECTIONS" >"$OUT/warmup.json"
sleep "$SETTLE"
rss0=$(rss_kib "$SERVER_PID")
fd0=$(fd_count "$SERVER_PID")
echo "bench-echo: before: VmRSS $rss0 KiB, $fd0 open fds; $TOTAL connections in waves of $WAVE" >&2

# The server's RSS every second, to see a trend rather than two points.
(while kill -0 "$SERVER_PID" 2>/dev/null; do rss_kib "$SERVER_PID"; sleep 1; done >"$OUT/rss-kib.txt" 2>/dev/null) &
sampler=$!
status=0
soak "$TOTAL" | tee "$OUT/soak.json" || status=1
sleep "$SETTLE"
rss1=$(rss_kib "$SERVER_PID")
fd1=$(fd_count "$SERVER_PID")
kill "$sampler" 2>/dev/null || true
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "bench-echo: the server died" >&2
    exit 1
fi

verdict() { if [ "$1" = 1 ]; then echo ok; else echo FAIL; fi; }
rss_ok=$(awk -v a="$rss1" -v b="$rss0" 'BEGIN { print (a <= b * 1.10 ? 1 : 0) }')
fd_ok=$([ "$fd1" = "$fd0" ] && echo 1 || echo 0)
load_ok=$([ "$status" = 0 ] && echo 1 || echo 0)
{
    echo "Soak of $KIND: $TOTAL connections in waves of $WAVE, $PAYLOAD-byte message each:"
    echo
    echo "| check | before | after | result |"
    echo "|---|---:|---:|---|"
    echo "| every connection echoed and closed cleanly | | $(sed -n 's/.*"ok":\([0-9]*\).*"failed":\([0-9]*\).*/\1 ok, \2 failed/p' "$OUT/soak.json") | $(verdict "$load_ok") |"
    echo "| server VmRSS (KiB), within 10% | $rss0 | $rss1 | $(verdict "$rss_ok") |"
    echo "| server open fds, back to baseline | $fd0 | $fd1 | $(verdict "$fd_ok") |"
} | tee "$OUT/table.md"
publish soak "$OUT/table.md"
[ "$rss_ok$fd_ok$load_ok" = 111 ]

#!/usr/bin/env bash
# Idle memory: the server's resident set growth per connection that finished the handshake
# and then sits idle, for each echo server.
#
#   bash bench-echo/idle.sh                 # N=10000 connections per server
#   IDLE_CONNECTIONS=500 bash bench-echo/idle.sh
#
# Per server: start it, warm it up (10 connections exchange a few messages and close, so
# lazily built state is not counted), read VmRSS, open N idle connections from the load
# generator, wait SETTLE seconds, read VmRSS again: (after - before) / N.
# Environment: IDLE_CONNECTIONS=10000, SETTLE=1, SERVERS=..., OUT=bench-echo/results/idle-<time>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

N=${IDLE_CONNECTIONS:-10000}
SETTLE=${SETTLE:-1}
SERVERS=${SERVERS:-$ALL_SERVERS}
OUT=${OUT:-$here/results/idle-$(date +%Y%m%d-%H%M%S)}
read -r -a servers <<<"$SERVERS"

build
raise_nofile $((N + 1024))
mkdir -p "$OUT"
raw="$OUT/raw.tsv"
printf 'server\tconnections\trss_before_kib\trss_after_kib\tfds_after\tbytes_per_connection\n' >"$raw"

LOADGEN_PID=
cleanup() {
    [ -n "$LOADGEN_PID" ] && kill "$LOADGEN_PID" 2>/dev/null || true
    stop_server
}
trap cleanup EXIT

for kind in "${servers[@]}"; do
    addr=$(next_addr)
    start_server "$kind" "$addr"
    pin "$LOADGEN_CPU" "$BIN/loadgen" --addr "$addr" --connections 10 --depth 4 --messages 100 >/dev/null
    sleep 0.5
    before=$(rss_kib "$SERVER_PID")
    ready=$(mktemp "${TMPDIR:-/tmp}/bench-echo-idle.XXXXXX")
    pin_to "$LOADGEN_CPU"
    "${PINNED[@]}" "$BIN/loadgen" --addr "$addr" --idle "$N" --hold 3600 >"$ready" &
    LOADGEN_PID=$!
    for ((t = 0; t < 1200; t++)); do
        grep -q '^ready' "$ready" && break
        kill -0 "$LOADGEN_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^ready' "$ready"; then
        echo "bench-echo: $kind: the idle connections did not open" >&2
        exit 1
    fi
    sleep "$SETTLE"
    after=$(rss_kib "$SERVER_PID")
    fds=$(fd_count "$SERVER_PID")
    kill "$LOADGEN_PID" 2>/dev/null || true
    wait "$LOADGEN_PID" 2>/dev/null || true
    LOADGEN_PID=
    rm -f "$ready"
    stop_server
    per=$(awk -v a="$after" -v b="$before" -v n="$N" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$N" "$before" "$after" "$fds" "$per" >>"$raw"
    printf '%-18s %6s KiB -> %8s KiB with %s idle connections (%s fds): %s bytes/connection\n' \
        "$kind" "$before" "$after" "$N" "$fds" "$per" >&2
done

{
    echo "Idle memory per connection ($N connections, server VmRSS growth after warm-up):"
    echo
    echo "| server | RSS before (KiB) | RSS after (KiB) | bytes per connection |"
    echo "|---|---:|---:|---:|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s |\n", $1, $3, $4, $6 }' "$raw"
} | tee "$OUT/table.md"
publish idle "$OUT/table.md"

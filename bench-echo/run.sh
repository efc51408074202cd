#!/usr/bin/env bash
# Side-by-side echo throughput: websock against its peers, one server at a time.
#
#   bash bench-echo/run.sh                                  # the full matrix, ~30 min
#   CASES=quick SECONDS_PER_RUN=1 REPEATS=1 bash bench-echo/run.sh   # smoke test, ~1 min
#
# For each case (connections x payload x depth) every server runs in turn (the order rotated
# on each repeat), the server pinned to CPU $SERVER_CPU and the load generator to $LOADGEN_CPU;
# the median of the repeats is reported in a Markdown table with websock's ratio to the best
# peer. Numbers only mean something on an otherwise quiet machine.
#
# Environment:
#   REPEATS=3            runs per server and case (median reported)
#   SECONDS_PER_RUN=3    measured seconds per run (after WARMUP seconds)
#   WARMUP=1
#   CASES=full|quick     full: connections {1,100,1000} x payload {16,1024,65536} x depth {1,16}
#                        quick: connections {1,100} x payload {16,1024} x depth {1,16}
#                        or an explicit list: CASES="1:16:1 100:1024:16" (connections:payload:depth)
#   SERVERS="websock-tokio websock-sink websock-tokio-tuned websock-sync tokio-tungstenite fastwebsockets tokio-websockets sockudo-ws wtx tcp"
#   SERVER_CPU=0 LOADGEN_CPU=1
#   OUT=bench-echo/results/run-<time>   where raw.tsv and table.md are written
#   SECTION=throughput   the BENCHMARKS.md section the table replaces (PUBLISH=0: none)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

REPEATS=${REPEATS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
WARMUP=${WARMUP:-1}
CASES=${CASES:-full}
SERVERS=${SERVERS:-$ALL_SERVERS}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
OUT=${OUT:-$here/results/run-$(date +%Y%m%d-%H%M%S)}

source "$here/lib.sh"

case "$CASES" in
full) cases=$(for c in 1 100 1000; do for p in 16 1024 65536; do for d in 1 16; do echo "$c:$p:$d"; done; done; done) ;;
quick) cases=$(for c in 1 100; do for p in 16 1024; do for d in 1 16; do echo "$c:$p:$d"; done; done; done) ;;
*) cases=$(tr ' ' '\n' <<<"$CASES") ;;
esac
read -r -a servers <<<"$SERVERS"

build
raise_nofile 4096
mkdir -p "$OUT"
raw="$OUT/raw.tsv"
printf 'server\tconnections\tpayload\tdepth\trepeat\tmsgs_per_s\terrors\n' >"$raw"

ncases=$(wc -w <<<"$cases")
echo "bench-echo: $ncases cases x ${#servers[@]} servers x $REPEATS repeats," \
    "${SECONDS_PER_RUN}s (+${WARMUP}s warm-up) each; server on CPU $SERVER_CPU," \
    "load generator on CPU $LOADGEN_CPU; results in $OUT" >&2
[ "$(cpu_busy_hint)" = quiet ] || echo "bench-echo: WARNING: the machine is busy ($(cpu_busy_hint)); numbers will be noisy" >&2

limit=$(awk -v s="$SECONDS_PER_RUN" -v w="$WARMUP" 'BEGIN { printf "%d", s + w + 120 }')
i=0
for case in $cases; do
    IFS=: read -r conns payload depth <<<"$case"
    i=$((i + 1))
    for ((rep = 0; rep < REPEATS; rep++)); do
        n=${#servers[@]}
        for ((k = 0; k < n; k++)); do
            kind=${servers[$(((k + rep + i) % n))]}
            addr=$(next_addr)
            start_server "$kind" "$addr"
            line=$(pin "$LOADGEN_CPU" timeout "$limit" "$BIN/loadgen" \
                --addr "$addr" --connections "$conns" --payload "$payload" --depth "$depth" \
                --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" --format tsv 2>>"$OUT/loadgen.err") || true
            stop_server
            rate=$(cut -f7 <<<"$line")
            errors=$(cut -f8 <<<"$line")
            [ -n "$rate" ] || { rate=0; errors=failed; }
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$conns" "$payload" "$depth" "$rep" \
                "$rate" "$errors" >>"$raw"
            printf '[%d/%d] %-18s c=%-5s p=%-6s d=%-3s rep=%d  %10s msgs/s%s\n' "$i" "$ncases" \
                "$kind" "$conns" "$payload" "$depth" "$rep" "$rate" \
                "$([ "$errors" = 0 ] || echo "  (errors: $errors)")" >&2
        done
    done
done

table "$raw" "${servers[@]}" | tee "$OUT/table.md"
publish "${SECTION:-throughput}" "$OUT/table.md"

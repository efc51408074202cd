#!/usr/bin/env bash
# Fan-out: one publisher, SUBSCRIBERS subscribers on one node, PAYLOAD-byte messages.
#   * deliveries per second and server RSS (idle with the subscribers in, and peak), REPEATS runs,
#   * user-space instructions per delivered message (callgrind; a run with 0 messages subtracted),
#   * write system calls per delivered message (strace -c; the same subtraction),
# for websock (PreparedMessage, encoded once), websock-naive (a Message per connection) and
# tokio-tungstenite (tokio::sync::broadcast), each on tokio current_thread pinned to one CPU;
# then the cross-node latency of the pubsub example through Redis (publish on node A, receive
# on node B), percentiles in microseconds.
#
#   bash bench-echo/fanout.sh                       # about 5 minutes
#   SUBSCRIBERS=1000 MESSAGES=100 bash bench-echo/fanout.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

SUBSCRIBERS=${SUBSCRIBERS:-10000}
MESSAGES=${MESSAGES:-200}
COUNTED=${COUNTED:-20}
PAYLOAD=${PAYLOAD:-1024}
REPEATS=${REPEATS:-3}
KINDS=${KINDS:-"websock websock-naive tokio-tungstenite"}
LATENCY_MESSAGES=${LATENCY_MESSAGES:-5000}
OUT=${OUT:-$here/results/fanout-$(date +%Y%m%d-%H%M%S)}
TUNABLES="glibc.cpu.x86_rep_movsb_threshold=0xffffffffffffffff:glibc.cpu.x86_rep_stosb_threshold=0xffffffffffffffff"
mkdir -p "$OUT"

for tool in valgrind strace redis-server; do
    pkg=$tool
    command -v "$tool" >/dev/null || apt-get install -y -qq "$pkg" >/dev/null
done
build
echo "bench-echo: building the pubsub example (release)..." >&2
(cd "$here/.." && cargo build --release --quiet --example pubsub)
raise_nofile $((SUBSCRIBERS * 2 + 100))

PID=
start() { # KIND ADDR [wrapper...]
    local kind=$1 addr=$2 log
    shift 2
    log="$OUT/server-$kind.log"
    pin_to "$SERVER_CPU"
    "${PINNED[@]}" "$@" "$BIN/fanout" server --kind "$kind" --addr "$addr" 2>"$log" &
    PID=$!
    for _ in $(seq 600); do
        grep -q "listening on" "$log" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench-echo: fanout server $kind did not start" >&2
    return 1
}
stop() { # the traced server rather than strace, so that strace writes its summary
    local kids
    kids=$(ps -o pid= --ppid "$PID" 2>/dev/null || true)
    kill -TERM ${kids:-$PID} 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}
load() { # ADDR MESSAGES [PID]
    pin "$LOADGEN_CPU" timeout 900 "$BIN/fanout" load --addr "$1" --subscribers "$SUBSCRIBERS" \
        --messages "$2" --payload "$PAYLOAD" ${3:+--pid "$3"}
}

raw="$OUT/raw.tsv"
printf 'kind\trun\tdeliveries_per_s\trss_idle_kib\trss_peak_kib\trss_base_kib\n' >"$raw"
costs="$OUT/costs.tsv"
printf 'kind\tinstr_per_delivery\twrites_per_delivery\n' >"$costs"
for kind in $KINDS; do
    for r in $(seq "$REPEATS"); do
        addr=$(next_addr)
        start "$kind" "$addr"
        line=$(load "$addr" "$MESSAGES" "$PID")
        stop
        IFS=$'\t' read -r _ _ _ _ rate idle peak base <<<"$line"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$r" "$rate" "$idle" "$peak" "$base" >>"$raw"
        echo "[$kind $r] $rate deliveries/s, RSS $idle KiB idle, $peak KiB peak" >&2
    done
    ir=()
    io=()
    for m in "$COUNTED" 0; do
        addr=$(next_addr)
        cg="$OUT/callgrind-$kind-$m.out"
        start "$kind" "$addr" env GLIBC_TUNABLES="$TUNABLES" valgrind --tool=callgrind \
            --callgrind-out-file="$cg" --dump-instr=no
        load "$addr" "$m" >/dev/null
        sleep 0.5
        stop
        ir+=("$(awk '/^summary:/ { print $2 }' "$cg")")
        addr=$(next_addr)
        st="$OUT/strace-$kind-$m.txt"
        start "$kind" "$addr" strace -f -c -o "$st" -e trace=write,writev,sendto,sendmsg
        load "$addr" "$m" >/dev/null
        sleep 0.5
        stop
        io+=("$(awk '$NF ~ /^(write|writev|sendto|sendmsg)$/ { n += $4 } END { print n + 0 }' "$st")")
    done
    line=$(awk -v a="${ir[0]}" -v b="${ir[1]}" -v c="${io[0]}" -v d="${io[1]}" \
        -v n="$((SUBSCRIBERS * COUNTED))" 'BEGIN { printf "%.0f\t%.3f", (a - b) / n, (c - d) / n }')
    printf '%s\t%s\n' "$kind" "$line" >>"$costs"
    echo "[$kind] $line (instructions, writes per delivery)" >&2
done

# Cross-node latency through Redis: two pubsub nodes, publisher on one, subscriber on the other.
rport=$((6400 + $$ % 500))
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
RPID=$!
sleep 0.3
NODES=()
ADDRS=()
for n in a b; do
    addr=$(next_addr)
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 "$here/../target/release/examples/pubsub" \
        --addr "$addr" --redis "redis://127.0.0.1:$rport" >"$OUT/pubsub-$n.log" 2>&1 &
    NODES+=($!)
    ADDRS+=("$addr")
done
sleep 0.5
latency=$("$BIN/fanout" latency --publish "ws://${ADDRS[0]}/lat" --subscribe "ws://${ADDRS[1]}/lat" \
    --messages "$LATENCY_MESSAGES" --interval-us 1000)
kill "${NODES[@]}" "$RPID" 2>/dev/null || true
wait 2>/dev/null || true
echo "$latency" >"$OUT/latency.tsv"

{
    echo "Fan-out, one publisher, $SUBSCRIBERS subscribers, $PAYLOAD-byte messages (\`bash bench-echo/fanout.sh\`):"
    echo
    echo "| server | deliveries/s (median of $REPEATS) | instructions per delivery | writes per delivery | RSS, subscribers idle (KiB) | RSS per subscriber | RSS peak (KiB) |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' -v subs="$SUBSCRIBERS" '
        FNR == 1 { next }
        FILENAME ~ /costs/ { ir[$1] = $2; wr[$1] = $3; next }
        { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
          rate[$1, ++cnt[$1]] = $3; idle[$1] = $4; base[$1] = $6; if ($5 > peak[$1]) peak[$1] = $5 }
        END {
            for (k = 1; k <= n; k++) {
                s = order[k]; m = cnt[s]
                for (i = 1; i <= m; i++) v[i] = rate[s, i]
                for (i = 2; i <= m; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
                med = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
                printf "| %s | %.0f | %s | %s | %s | %.0f B | %s |\n", s, med, ir[s], wr[s], idle[s], (idle[s] - base[s]) * 1024 / subs, peak[s]
            }
        }' "$costs" "$raw"
    echo
    echo "Cross-node latency through Redis (pubsub example, publish on node A, receive on node B, $LATENCY_MESSAGES messages at 1 ms intervals):"
    echo
    echo "| p50 | p90 | p99 | max |"
    echo "|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %d µs | %d µs | %d µs | %d µs |\n", $4, $6, $8, $10 }' "$OUT/latency.tsv"
} | tee "$OUT/table.md"
publish fanout "$OUT/table.md"

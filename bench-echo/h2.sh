#!/usr/bin/env bash
# The same echo workload over HTTP/1.1 and over HTTP/2 (RFC 8441, h2c), against the echo
# server example (release, --no-deflate, pinned to one CPU), with websock's own clients
# (src/bin/h2echo.rs) pinned to the other:
#   * echoed messages per second (median of REPEATS runs),
#   * user-space instructions per echoed message in the server (callgrind; a run with 0
#     messages subtracted, so handshakes drop out),
# for 1 WebSocket, and 100: over HTTP/1.1 on 100 connections, over HTTP/2 multiplexed on one
# connection, and over HTTP/2 on 100 connections.
#
#   bash bench-echo/h2.sh              # about 3 minutes
#   MESSAGES=5000 REPEATS=1 bash bench-echo/h2.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

MESSAGES=${MESSAGES:-20000}
COUNTED=${COUNTED:-4000}
PAYLOAD=${PAYLOAD:-1024}
REPEATS=${REPEATS:-3}
OUT=${OUT:-$here/results/h2-$(date +%Y%m%d-%H%M%S)}
TUNABLES="glibc.cpu.x86_rep_movsb_threshold=0xffffffffffffffff:glibc.cpu.x86_rep_stosb_threshold=0xffffffffffffffff"
CASES=${CASES:-"h1:1:1 h2:1:1 h1:100:1 h2:100:100 h2:100:1"}
mkdir -p "$OUT"
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
build
echo "bench-echo: building the echo server (release)..." >&2
(cd "$here/.." && cargo build --release --quiet --features hyper,rustls,tracing --example echo-server)
SERVER="$here/../target/release/examples/echo-server"
raise_nofile 4096

PID=
start() { # ADDR [wrapper...]
    local addr=$1 log="$OUT/server.log"
    shift
    pin_to "$SERVER_CPU"
    GLIBC_TUNABLES="$TUNABLES" "${PINNED[@]}" "$@" "$SERVER" --addr "$addr" --no-deflate 2>"$log" >"$log.out" &
    PID=$!
    for _ in $(seq 600); do
        grep -q "listening on" "$log.out" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench-echo: echo server did not start" >&2
    return 1
}
stop() {
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}
run() { # ADDR PROTO N PER TOTAL
    pin "$LOADGEN_CPU" timeout 600 "$BIN/h2echo" --addr "$1" --proto "$2" --websockets "$3" \
        --per-connection "$4" --messages $(($5 / $3)) --payload "$PAYLOAD"
}

raw="$OUT/raw.tsv"
printf 'proto\twebsockets\tper_connection\tmessages\tseconds\tmsgs_per_s\n' >"$raw"
costs="$OUT/costs.tsv"
printf 'case\tinstr_per_msg\n' >"$costs"
for case in $CASES; do
    IFS=: read -r proto n per <<<"$case"
    for _ in $(seq "$REPEATS"); do
        addr=$(next_addr)
        start "$addr"
        run "$addr" "$proto" "$n" "$per" "$MESSAGES" | tee -a "$raw" >&2
        stop
    done
    ir=()
    for total in "$COUNTED" 0; do
        addr=$(next_addr)
        cg="$OUT/callgrind-$proto-$n-$per-$total.out"
        start "$addr" valgrind --tool=callgrind --callgrind-out-file="$cg" --dump-instr=no
        if ((total > 0)); then
            run "$addr" "$proto" "$n" "$per" "$total" >/dev/null
        else
            # The same connections and handshakes, no messages.
            pin "$LOADGEN_CPU" timeout 600 "$BIN/h2echo" --addr "$addr" --proto "$proto" \
                --websockets "$n" --per-connection "$per" --messages 0 >/dev/null
        fi
        sleep 0.5
        stop
        ir+=("$(awk '/^summary:/ { print $2 }' "$cg")")
    done
    per_msg=$(awk -v a="${ir[0]}" -v b="${ir[1]}" -v n="$COUNTED" 'BEGIN { printf "%.0f", (a - b) / n }')
    printf '%s\t%s\n' "$case" "$per_msg" >>"$costs"
    echo "[$case] $per_msg instructions per echoed message" >&2
done

{
    echo "Echo over HTTP/1.1 and HTTP/2 (h2c), $PAYLOAD-byte binary messages, one round trip at a time per WebSocket (\`bash bench-echo/h2.sh\`):"
    echo
    echo "| WebSockets | transport | messages/s (median of $REPEATS) | instructions per message (server) |"
    echo "|---:|---|---:|---:|"
    awk -F'\t' '
        FNR == 1 { next }
        FILENAME ~ /costs/ { ir[$1] = $2; next }
        { c = $1 ":" $2 ":" $3; if (!(c in seen)) { seen[c] = 1; order[++n] = c }
          v[c, ++cnt[c]] = $6 }
        END {
            for (k = 1; k <= n; k++) {
                c = order[k]; m = cnt[c]; split(c, p, ":")
                for (i = 1; i <= m; i++) w[i] = v[c, i]
                for (i = 2; i <= m; i++) { t = w[i]; for (j = i - 1; j >= 1 && w[j] > t; j--) w[j + 1] = w[j]; w[j + 1] = t }
                med = (m % 2) ? w[(m + 1) / 2] : (w[m / 2] + w[m / 2 + 1]) / 2
                if (p[1] == "h1") how = "HTTP/1.1, " (p[2] == 1 ? "1 connection" : p[2] " connections")
                else if (p[2] == 1) how = "HTTP/2, 1 connection"
                else if (p[3] == p[2]) how = "HTTP/2, all on 1 connection"
                else how = "HTTP/2, " p[2] / p[3] " connections"
                printf "| %s | %s | %.0f | %s |\n", p[2], how, med, ir[c]
            }
        }' "$costs" "$raw"
} | tee "$OUT/table.md"
publish h2 "$OUT/table.md"

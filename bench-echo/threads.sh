#!/usr/bin/env bash
# How the echo server example scales with the tokio runtime's worker threads: echoed messages
# per second with `--threads 1` and `--threads 2` (the server not pinned; the load generator,
# raw TCP with pre-masked frames, on its own), 100 connections, 16 messages in flight each,
# 16 B and 1 KiB. On a 2-core machine the load generator shares the cores with the server, so
# two workers can at best take what the load generator leaves.
#
#   bash bench-echo/threads.sh        # about 1 minute
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

REPEATS=${REPEATS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-2}
OUT=${OUT:-$here/results/threads-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
build
echo "bench-echo: building the echo server (release)..." >&2
(cd "$here/.." && cargo build --release --quiet --features hyper,rustls,tracing --example echo-server)
SERVER="$here/../target/release/examples/echo-server"
raise_nofile 4096

raw="$OUT/raw.tsv"
printf 'threads\tpayload\trun\tmsgs_per_s\n' >"$raw"
for payload in 16 1024; do
    for threads in 1 2; do
        for r in $(seq "$REPEATS"); do
            addr=$(next_addr)
            GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 "$SERVER" --addr "$addr" \
                --no-deflate --threads "$threads" >/dev/null 2>&1 &
            pid=$!
            sleep 0.3
            line=$(timeout 60 "$BIN/loadgen" --addr "$addr" --connections 100 --payload "$payload" \
                --depth 16 --seconds "$SECONDS_PER_RUN" --warmup 1 --format tsv)
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            rate=$(cut -f7 <<<"$line")
            printf '%s\t%s\t%s\t%s\n' "$threads" "$payload" "$r" "$rate" >>"$raw"
            echo "[threads $threads, $payload B, run $r] $rate msgs/s" >&2
        done
    done
done

{
    echo "The echo server example by worker threads, 100 connections, depth 16 (\`bash bench-echo/threads.sh\`, $(nproc) CPUs shared with the load generator):"
    echo
    echo "| payload | 1 worker (msgs/s) | 2 workers (msgs/s) | 2 / 1 |"
    echo "|---:|---:|---:|---:|"
    awk -F'\t' '
        NR == 1 { next }
        { v[$1, $2, ++n[$1, $2]] = $4; p[$2] = 1 }
        function med(t, q,   m, i, j, x, w) {
            m = n[t, q]; for (i = 1; i <= m; i++) w[i] = v[t, q, i]
            for (i = 2; i <= m; i++) { x = w[i]; for (j = i - 1; j >= 1 && w[j] > x; j--) w[j + 1] = w[j]; w[j + 1] = x }
            return (m % 2) ? w[(m + 1) / 2] : (w[m / 2] + w[m / 2 + 1]) / 2
        }
        END { for (q in p) { a = med(1, q); b = med(2, q); printf "| %s | %.0f | %.0f | %.2f |\n", q, a, b, b / a } }' "$raw" | sort -t'|' -k2 -n
} | tee "$OUT/table.md"
publish threads "$OUT/table.md"

#!/usr/bin/env bash
# Per-message costs of each echo server, independent of machine noise:
#   * user-space instructions per echoed message (valgrind --tool=callgrind on the server),
#   * I/O system calls per message, the writes among them, and epoll waits per message
#     (strace -f -c on the server).
# For each server and case the load generator sends exactly N messages per connection and
# closes; a second run with the same connections and 0 messages is subtracted, so start-up,
# handshakes and close handshakes drop out.
#
#   bash bench-echo/costs.sh                                       # default cases, ~15-20 min
#   COST_CASES="1:1024:1" COST_MESSAGES=2000 bash bench-echo/costs.sh   # one case, small
#
# Environment:
#   COST_CASES="c:p:d ..."   default: connections {1,100} x payload {16,1024,65536} x depth {1,16}
#   COST_MESSAGES=20000      messages per run in total (split over the connections)
#   SERVERS=...              as in run.sh
#   OUT=bench-echo/results/costs-<time>
#   SECTION=costs            the BENCHMARKS.md section the tables replace (PUBLISH=0: none)
# memcpy/memset are kept off `rep movsb`/`rep stosb` in the measured server (GLIBC_TUNABLES):
# callgrind counts every iteration of a `rep` instruction, which would inflate large copies.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

COST_MESSAGES=${COST_MESSAGES:-20000}
SERVERS=${SERVERS:-$ALL_SERVERS}
OUT=${OUT:-$here/results/costs-$(date +%Y%m%d-%H%M%S)}
SECTION=${SECTION:-costs}
if [ -z "${COST_CASES:-}" ]; then
    COST_CASES=$(for c in 1 100; do for p in 16 1024 65536; do for d in 1 16; do printf '%s ' "$c:$p:$d"; done; done; done)
fi
read -r -a servers <<<"$SERVERS"
read -r -a cases <<<"$COST_CASES"
COST_CASES="${cases[*]}"
TUNABLES="glibc.cpu.x86_rep_movsb_threshold=0xffffffffffffffff:glibc.cpu.x86_rep_stosb_threshold=0xffffffffffffffff"

need() {
    command -v "$1" >/dev/null && return 0
    echo "bench-echo: installing $2" >&2
    if command -v apt-get >/dev/null; then
        (apt-get install -y -qq "$2" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2"; }) >&2
    fi
    command -v "$1" >/dev/null || { echo "bench-echo: $1 is needed (package $2)" >&2; exit 1; }
}
need valgrind valgrind
need strace strace

build
raise_nofile 4096
mkdir -p "$OUT"
raw="$OUT/raw.tsv"
printf 'server\tconnections\tpayload\tdepth\tmessages\tinstr_per_msg\tio_syscalls_per_msg\tepoll_per_msg\twrite_syscalls_per_msg\n' >"$raw"

# counted_run KIND CONNS PAYLOAD DEPTH PER_CONN: one loadgen run against the server started
# last; fails loudly if the load generator saw errors.
counted_run() {
    local addr=$1 conns=$2 payload=$3 depth=$4 per=$5
    if ! pin "$LOADGEN_CPU" timeout 600 "$BIN/loadgen" --addr "$addr" --connections "$conns" \
        --payload "$payload" --depth "$depth" --messages "$per" --format tsv >/dev/null; then
        echo "bench-echo: loadgen failed against $kind ($conns:$payload:$depth, $per msgs)" >&2
        return 1
    fi
}

# instructions KIND CONNS PAYLOAD DEPTH PER_CONN: the server's total Ir for one counted run.
instructions() {
    local kind=$1 conns=$2 payload=$3 depth=$4 per=$5
    local addr out
    addr=$(next_addr)
    out=$(mktemp "${TMPDIR:-/tmp}/bench-echo-cg.XXXXXX")
    start_server "$kind" "$addr" env GLIBC_TUNABLES="$TUNABLES" \
        valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no
    counted_run "$addr" "$conns" "$payload" "$depth" "$per"
    sleep 0.5
    stop_server TERM
    awk '/^summary:/ { print $2 }' "$out"
    rm -f "$out"
}

# syscalls KIND CONNS PAYLOAD DEPTH PER_CONN: "io epoll writes" call counts for one counted run.
syscalls() {
    local kind=$1 conns=$2 payload=$3 depth=$4 per=$5
    local addr out
    addr=$(next_addr)
    out=$(mktemp "${TMPDIR:-/tmp}/bench-echo-st.XXXXXX")
    start_server "$kind" "$addr" strace -f -c -o "$out" \
        -e trace=read,write,recvfrom,sendto,writev,readv,sendmsg,recvmsg,epoll_wait,epoll_pwait
    counted_run "$addr" "$conns" "$payload" "$depth" "$per"
    sleep 0.5
    stop_server TERM
    awk '$NF ~ /^(read|write|recvfrom|sendto|writev|readv|sendmsg|recvmsg)$/ { io += $4 }
         $NF ~ /^(write|sendto|writev|sendmsg)$/ { wr += $4 }
         $NF ~ /^epoll_p?wait$/ { ep += $4 }
         END { printf "%d %d %d\n", io, ep, wr }' "$out"
    rm -f "$out"
}

ncases=$(wc -w <<<"$COST_CASES")
echo "bench-echo: costs for $ncases cases x ${#servers[@]} servers, $COST_MESSAGES messages per run; results in $OUT" >&2
i=0
for case in $COST_CASES; do
    IFS=: read -r conns payload depth <<<"$case"
    i=$((i + 1))
    per=$(((COST_MESSAGES + conns - 1) / conns))
    total=$((per * conns))
    for kind in "${servers[@]}"; do
        ir_n=$(instructions "$kind" "$conns" "$payload" "$depth" "$per")
        ir_0=$(instructions "$kind" "$conns" "$payload" "$depth" 0)
        read -r io_n ep_n wr_n <<<"$(syscalls "$kind" "$conns" "$payload" "$depth" "$per")"
        read -r io_0 ep_0 wr_0 <<<"$(syscalls "$kind" "$conns" "$payload" "$depth" 0)"
        line=$(awk -v a="$ir_n" -v b="$ir_0" -v c="$io_n" -v d="$io_0" -v e="$ep_n" -v f="$ep_0" \
            -v g="$wr_n" -v h="$wr_0" -v n="$total" \
            'BEGIN { printf "%.0f\t%.3f\t%.3f\t%.3f", (a - b) / n, (c - d) / n, (e - f) / n, (g - h) / n }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$conns" "$payload" "$depth" "$total" "$line" >>"$raw"
        printf '[%d/%d] %-18s c=%-4s p=%-6s d=%-3s %s instr/msg, %s io syscalls/msg, %s epoll/msg, %s writes/msg\n' \
            "$i" "$ncases" "$kind" "$conns" "$payload" "$depth" $line >&2
    done
done

# Two pivot tables: instructions, then I/O system calls (epoll waits in brackets).
awk -F'\t' -v servers="${servers[*]}" '
NR == 1 { next }
{
    c = $2 SUBSEP $3 SUBSEP $4
    if (!(c in seen)) { seen[c] = 1; order[++n] = c }
    ir[$1, c] = $6; io[$1, c] = $7; ep[$1, c] = $8; wr[$1, c] = $9
}
END {
    ns = split(servers, s, " ")
    for (t = 1; t <= 2; t++) {
        print (t == 1 ? "User-space instructions per echoed message (callgrind):" : "I/O system calls per echoed message (in brackets: the writes among them, and epoll waits) (strace):")
        print ""
        hdr = "| connections | payload | depth |"; sep = "|---:|---:|---:|"
        for (i = 1; i <= ns; i++) { hdr = hdr " " s[i] " |"; sep = sep "---:|" }
        print hdr; print sep
        for (k = 1; k <= n; k++) {
            c = order[k]; split(c, p, SUBSEP)
            line = "| " p[1] " | " p[2] " | " p[3] " |"
            for (i = 1; i <= ns; i++) {
                if (!((s[i], c) in ir)) { line = line " - |"; continue }
                if (t == 1) line = line " " ir[s[i], c] " |"
                else line = line sprintf(" %.2f (%.3f, %.2f) |", io[s[i], c], wr[s[i], c], ep[s[i], c])
            }
            print line
        }
        print ""
    }
}' "$raw" >"$OUT/tables.md"
{
    printf 'From `SERVERS="%s" COST_CASES="%s" COST_MESSAGES=%s bash bench-echo/costs.sh`\n' \
        "${servers[*]}" "$COST_CASES" "$COST_MESSAGES"
    printf '(callgrind: user-space instructions over exactly N messages minus a run with none;\n'
    printf 'strace -f -c: system calls):\n\n'
    cat "$OUT/tables.md"
} | tee "$OUT/table.md"
publish "$SECTION" "$OUT/table.md"

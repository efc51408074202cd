# Shared helpers for run.sh, costs.sh, idle.sh and soak.sh (sourced, not run).
# Needs: bash, cargo, awk (any), coreutils; taskset (util-linux) for pinning.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$BENCH_DIR/target/release"
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
ALL_SERVERS="websock-tokio websock-sink websock-tokio-tuned websock-sync tokio-tungstenite fastwebsockets tokio-websockets sockudo-ws wtx tcp"

# Builds both binaries in release mode (in bench-echo/target, whatever CARGO_TARGET_DIR says).
build() {
    echo "bench-echo: building (release)..." >&2
    CARGO_TARGET_DIR="$BENCH_DIR/target" cargo build --release --quiet \
        --manifest-path "$BENCH_DIR/Cargo.toml"
}

# PINNED=(taskset -c CPU) when pinning is possible, else empty. Use as "${PINNED[@]}" cmd ...
# (taskset execs the command, so $! of a background job is the command's own pid).
PINNED=()
pin_to() {
    PINNED=()
    if [ "${NO_PIN:-0}" != 1 ] && command -v taskset >/dev/null && [ "$(nproc --all)" -gt 1 ]; then
        PINNED=(taskset -c "$1")
    fi
}
pin() {
    local cpu=$1
    shift
    pin_to "$cpu"
    "${PINNED[@]}" "$@"
}

# Raises the open-file limit of this shell (and so of the servers and the load generator).
raise_nofile() {
    local want=$1
    local cur
    cur=$(ulimit -n)
    [ "$cur" = unlimited ] && return 0
    [ "$cur" -ge "$want" ] && return 0
    ulimit -n "$want" 2>/dev/null && return 0
    ulimit -Hn "$want" 2>/dev/null && ulimit -n "$want" 2>/dev/null && return 0
    local hard
    hard=$(ulimit -Hn)
    ulimit -n "$hard" 2>/dev/null || true
    echo "bench-echo: WARNING: open-file limit is $(ulimit -n), wanted $want" >&2
}

# A fresh port per server start, so no run sees the previous server's sockets.
PORT_COUNTER=${PORT_COUNTER:-0}
next_addr() {
    PORT_COUNTER=$((PORT_COUNTER + 1))
    echo "127.0.0.1:$((9300 + (PORT_COUNTER + $$) % 600))"
}

# start_server KIND ADDR [WRAPPER...]: starts the server pinned to SERVER_CPU, sets SERVER_PID,
# and waits until it listens. A wrapper (valgrind, strace ...) goes between taskset and it.
SERVER_PID=
SERVER_LOG=
start_server() {
    local kind=$1 addr=$2
    shift 2
    SERVER_LOG=$(mktemp "${TMPDIR:-/tmp}/bench-echo-server.XXXXXX")
    pin_to "$SERVER_CPU"
    "${PINNED[@]}" "$@" "$BIN/servers" --kind "$kind" --addr "$addr" 2>"$SERVER_LOG" &
    SERVER_PID=$!
    local i
    for ((i = 0; i < 600; i++)); do
        grep -q "listening on" "$SERVER_LOG" 2>/dev/null && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "bench-echo: server $kind failed to start:" >&2
            cat "$SERVER_LOG" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "bench-echo: server $kind did not start listening in 30 s" >&2
    return 1
}

# stop_server [SIGNAL]: stops the server started last and waits for it.
stop_server() {
    local sig=${1:-TERM}
    if [ -n "$SERVER_PID" ]; then
        # Under strace the server is strace's child, and strace ignores the signal: signal the
        # server itself and strace ends with it.
        local kids
        kids=$(ps -o pid= --ppid "$SERVER_PID" 2>/dev/null || true)
        if [ -n "$kids" ]; then
            kill -s "$sig" $kids 2>/dev/null || true
        else
            kill -s "$sig" "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
    [ -n "$SERVER_LOG" ] && rm -f "$SERVER_LOG"
    SERVER_LOG=
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }

# "quiet", or a note on the load average when something else is running.
cpu_busy_hint() {
    awk '{ if ($1 > 0.5) printf "load average %s", $1; else printf "quiet" }' /proc/loadavg
}

# table RAW SERVER...: the Markdown table of medians from run.sh's raw.tsv.
table() {
    local raw=$1
    shift
    awk -F'\t' -v servers="$*" '
    function commas(x,   s, r) {
        s = sprintf("%.0f", x); r = ""
        while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
        return s r
    }
    function median(key,   n, i, j, t, v) {
        n = cnt[key]
        for (i = 1; i <= n; i++) v[i] = val[key, i]
        for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
        if (n % 2) return v[(n + 1) / 2]
        return (v[n / 2] + v[n / 2 + 1]) / 2
    }
    NR == 1 { next }
    {
        c = $2 SUBSEP $3 SUBSEP $4
        if (!(c in seen)) { seen[c] = 1; order[++ncase] = c }
        key = $1 SUBSEP c
        val[key, ++cnt[key]] = $6
        if ($7 != "0") bad[key] = 1
    }
    END {
        ns = split(servers, s, " ")
        hdr = "| connections | payload | depth |"; sep = "|---:|---:|---:|"
        for (i = 1; i <= ns; i++) { hdr = hdr " " s[i] " |"; sep = sep "---:|" }
        nw = 0
        for (i = 1; i <= ns; i++) if (s[i] ~ /^websock-/) { hdr = hdr " " s[i] " / best peer |"; sep = sep "---:|"; w[++nw] = s[i] }
        print hdr; print sep
        for (k = 1; k <= ncase; k++) {
            c = order[k]; split(c, p, SUBSEP)
            line = "| " p[1] " | " p[2] " | " p[3] " |"
            best = 0; bestname = ""
            for (i = 1; i <= ns; i++) {
                key = s[i] SUBSEP c
                if (!(key in cnt)) { line = line " - |"; continue }
                m[s[i]] = median(key)
                line = line " " commas(m[s[i]]) (key in bad ? " (!)" : "") " |"
                if (s[i] !~ /^websock-/ && s[i] != "tcp" && m[s[i]] > best) { best = m[s[i]]; bestname = s[i] }
            }
            for (i = 1; i <= nw; i++) {
                if (best > 0 && ((w[i] SUBSEP c) in cnt)) line = line sprintf(" %.2f (%s) |", m[w[i]] / best, bestname)
                else line = line " - |"
            }
            print line
        }
        print ""
        print "msgs/s, median of the repeats; (!) = a run of that cell had connection errors."
    }' "$raw"
}

# publish NAME FILE: puts FILE (a script's table.md) into BENCHMARKS.md at the repository's
# root, between the lines `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, with the date and
# machine it was measured on. PUBLISH=0 leaves BENCHMARKS.md alone.
publish() {
    local name=$1 file=$2 doc="$BENCH_DIR/../BENCHMARKS.md"
    [ "${PUBLISH:-1}" = 0 ] && return 0
    python3 - "$doc" "$name" "$file" "$(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -m)" <<'PY'
import sys
doc, name, table, when = sys.argv[1:]
text = open(doc).read()
start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
body = open(table).read().strip()
block = f"{start}\n_Regenerated {when}._\n\n{body}\n{end}"
if start in text and end in text:
    i, j = text.index(start), text.index(end) + len(end)
    text = text[:i] + block + text[j:]
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(doc, "w").write(text)
PY
    echo "bench-echo: BENCHMARKS.md section $name updated" >&2
}

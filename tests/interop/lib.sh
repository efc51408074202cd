# Shared by tests/interop/run.sh and tests/interop/browser.sh (sourced, not run).
#
# Installs, process bookkeeping (only what we start is stopped), and the results table: every
# case is one tab-separated row "peer direction adapter deflate case PASS|FAIL detail" in
# $INTEROP_RESULTS.

# ---------------------------------------------------------------------------------------------
# THE switch for permessage-deflate. 1: websock implements it (feature `deflate`): the echo
# server accepts an offer unless run with --no-deflate (also tested), and interop-client offers
# it with --deflate (also tested). 0: websock must decline every offer (no
# Sec-WebSocket-Extensions in its responses) and interop-client is never asked to offer.
# Overridable from the environment: EXPECT_DEFLATE=0 bash tests/interop/run.sh
EXPECT_DEFLATE="${EXPECT_DEFLATE:-1}"
# ---------------------------------------------------------------------------------------------

INTEROP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$INTEROP_DIR/../.." && pwd)"
OUT="$ROOT/target/interop"
CACHE="${WEBSOCK_INTEROP_CACHE:-$HOME/.cache/websock-interop}"
VENV="$CACHE/venv"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
EXAMPLES="$ROOT/target/release/examples"
mkdir -p "$OUT/logs"

PIDS=()

log() { echo "interop: $*" >&2; }

# Stops what this script started (and nothing else).
stop_started() {
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    PIDS=()
}

show_tail() {
    echo "----- tail of $1 -----" >&2
    tail -n "${2:-30}" "$1" >&2 || true
    echo "----- end of $1 -----" >&2
}

# start_server LOG CMD...: starts CMD in the background (stdout and stderr to LOG) and waits for
# its "listening on ws://HOST:PORT" (or wss://) line; sets SERVER_PID and SERVER_PORT.
start_server() {
    local logf=$1 i line
    shift
    "$@" >"$logf" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for ((i = 0; i < 300; i++)); do
        line=$(grep -m1 -o 'listening on wss\?://[0-9.]*:[0-9]*' "$logf" 2>/dev/null || true)
        if [[ -n $line ]]; then
            SERVER_PORT=${line##*:}
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "server exited before listening: $*"
            show_tail "$logf"
            return 1
        fi
        sleep 0.1
    done
    log "server not listening after 30 s: $*"
    show_tail "$logf"
    return 1
}

stop_server() {
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}

# row PEER DIRECTION ADAPTER DEFLATE CASE RESULT [DETAIL]
row() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "${7:-}" >>"$INTEROP_RESULTS"
}

# run_cases PEER DIRECTION ADAPTER DEFLATE LOG TIMEOUT CMD...: runs a peer program that prints
# "PASS name" / "FAIL name: why" lines, and records them. A program that fails without saying
# which case (a crash, a timeout) adds a FAIL row of its own.
run_cases() {
    local peer=$1 dir=$2 adapter=$3 deflate=$4 logf=$5 limit=$6 rc=0 failed_rows=0 line
    shift 6
    timeout --kill-after=5 "$limit" "$@" >"$logf.out" 2>"$logf" || rc=$?
    while IFS= read -r line; do
        case $line in
            "PASS "*": "*)
                line=${line#PASS }
                row "$peer" "$dir" "$adapter" "$deflate" "${line%%: *}" PASS "${line#*: }"
                ;;
            "PASS "*) row "$peer" "$dir" "$adapter" "$deflate" "${line#PASS }" PASS ;;
            "FAIL "*)
                line=${line#FAIL }
                row "$peer" "$dir" "$adapter" "$deflate" "${line%%: *}" FAIL "${line#*: }"
                failed_rows=$((failed_rows + 1))
                ;;
        esac
    done <"$logf.out"
    cat "$logf.out" >>"$logf"
    rm -f "$logf.out"
    if ((rc != 0 && failed_rows == 0)); then
        local why="exit status $rc"
        ((rc == 124 || rc == 137)) && why="timed out after $limit s"
        row "$peer" "$dir" "$adapter" "$deflate" "(run)" FAIL "$why; see ${logf#"$ROOT"/}"
        show_tail "$logf" 15
    fi
}

# print_table FILE: prints the results table (also into FILE) and a summary line; returns 1 if
# any case failed.
print_table() {
    local table=$1 passed failed
    {
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' PEER DIRECTION ADAPTER DEFLATE CASE RESULT DETAIL
        cat "$INTEROP_RESULTS"
    } | if command -v column >/dev/null; then column -t -s $'\t'; else cat; fi |
        sed 's/[[:space:]]*$//' >"$table"
    passed=$(awk -F'\t' '$6 == "PASS"' "$INTEROP_RESULTS" | wc -l)
    failed=$(awk -F'\t' '$6 != "PASS"' "$INTEROP_RESULTS" | wc -l)
    echo "interop: $passed passed, $failed failed (EXPECT_DEFLATE=$EXPECT_DEFLATE)" >>"$table"
    cat "$table"
    echo "$passed passed, $failed failed"
    ((failed == 0 && passed > 0))
}

# ---------------------------------------------------------------------------------------------
# Installs: each is a no-op when already done.

# Debian's chromium (not Playwright's own browser download, which cannot work here).
install_chromium() {
    [[ -x $CHROMIUM ]] && return 0
    log "installing chromium (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$OUT/logs/apt.log" 2>&1 || { show_tail "$OUT/logs/apt.log"; return 1; }
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation fonts-dejavu-core \
        >>"$OUT/logs/apt.log" 2>&1 || { show_tail "$OUT/logs/apt.log"; return 1; }
}

# The Node peers' packages (ws, playwright-core) from package-lock.json.
install_node() {
    local stamp="$INTEROP_DIR/node/node_modules/.websock-lock"
    if cmp -s "$INTEROP_DIR/node/package-lock.json" "$stamp"; then return 0; fi
    log "installing node packages (npm ci)"
    (cd "$INTEROP_DIR/node" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$INTEROP_DIR/node/package-lock.json" "$stamp"
}

# Python's websockets in a venv of its own.
install_python() {
    local req="$INTEROP_DIR/python/requirements.txt" stamp="$VENV/.websock-requirements"
    if [[ -x $VENV/bin/python ]] && cmp -s "$req" "$stamp"; then return 0; fi
    log "installing python websockets into $VENV"
    mkdir -p "$CACHE"
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
    cp "$req" "$stamp"
}

build_examples() {
    log "building the release examples"
    (cd "$ROOT" && nice -n 10 cargo build --release --quiet --features hyper,rustls,tracing \
        --example echo-server --example interop-client >&2)
}

#!/usr/bin/env bash
# Runs the Autobahn|Testsuite against websock, both directions:
#   * wstest fuzzingclient  -> examples/echo-server (tokio on :9001, sync on :9002)
#   * wstest fuzzingserver (:9003) <- examples/autobahn-client (tokio, then sync)
# and grades the reports with autobahn/check.py. Reports and logs end up in
# autobahn/reports/. Exit status 0 only if every case passes.
#
# Env: AUTOBAHN_ALLOW_UNIMPLEMENTED=1  accept UNIMPLEMENTED in sections 12/13
#      AUTOBAHN_TIMEOUT=SECONDS        limit for each wstest/client run (1800)
#      WSTEST_VENV=DIR                 where install.sh puts wstest
set -euo pipefail

START=$(date +%s)
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REPORTS=autobahn/reports
TIMEOUT="${AUTOBAHN_TIMEOUT:-1800}"
PIDS=()
FAILED=0

log() { echo "autobahn: $*" >&2; }

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    log "total wall time $(( $(date +%s) - START )) s"
    exit "$rc"
}
trap cleanup EXIT

# Prints the last lines of a log file, for failures.
show_tail() {
    echo "----- tail of $1 -----" >&2
    tail -n "${2:-40}" "$1" >&2 || true
    echo "----- end of $1 -----" >&2
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID LOG: wait up to 30 s for PORT to accept connections,
# failing early if process PID exits.
wait_port() {
    local port=$1 pid=$2 logf=$3 i
    for ((i = 0; i < 300; i++)); do
        if port_open "$port"; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "process $pid exited before listening on port $port"
            show_tail "$logf"
            return 1
        fi
        sleep 0.1
    done
    log "nothing listens on port $port after 30 s"
    show_tail "$logf"
    return 1
}

for port in 9001 9002 9003; do
    if port_open "$port"; then
        log "port $port is already in use; stop whatever listens there first"
        exit 1
    fi
done

# ---- tools and binaries --------------------------------------------------
WSTEST="$(bash autobahn/install.sh | tail -n 1)"
log "wstest: $WSTEST"

cargo build --release --example echo-server --example autobahn-client
EXAMPLES="${CARGO_TARGET_DIR:-target}/release/examples"

rm -rf "$REPORTS"
mkdir -p "$REPORTS/servers" "$REPORTS/clients"

# ---- servers under test, wstest as client --------------------------------
"$EXAMPLES/echo-server" --addr 127.0.0.1:9001 > "$REPORTS/echo-server-tokio.log" 2>&1 &
TOKIO_PID=$!; PIDS+=("$TOKIO_PID")
"$EXAMPLES/echo-server" --addr 127.0.0.1:9002 --sync > "$REPORTS/echo-server-sync.log" 2>&1 &
SYNC_PID=$!; PIDS+=("$SYNC_PID")
wait_port 9001 "$TOKIO_PID" "$REPORTS/echo-server-tokio.log"
wait_port 9002 "$SYNC_PID" "$REPORTS/echo-server-sync.log"

log "wstest fuzzingclient -> echo-server :9001 (tokio), :9002 (sync)"
t0=$(date +%s)
if ! timeout "$TIMEOUT" "$WSTEST" -m fuzzingclient -s autobahn/fuzzingclient.json \
        > "$REPORTS/fuzzingclient.log" 2>&1; then
    log "wstest fuzzingclient failed or timed out"
    show_tail "$REPORTS/fuzzingclient.log"
    FAILED=1
fi
log "fuzzingclient took $(( $(date +%s) - t0 )) s"
for pid_name in "$TOKIO_PID:echo-server-tokio" "$SYNC_PID:echo-server-sync"; do
    if ! kill -0 "${pid_name%%:*}" 2>/dev/null; then
        log "${pid_name#*:} died during the run"
        show_tail "$REPORTS/${pid_name#*:}.log"
        FAILED=1
    fi
done
if grep -q "Connection to .* failed" "$REPORTS/fuzzingclient.log"; then
    log "wstest could not connect to a server:"
    grep "Connection to .* failed" "$REPORTS/fuzzingclient.log" >&2
    FAILED=1
fi
kill "$TOKIO_PID" "$SYNC_PID" 2>/dev/null || true

# ---- clients under test, wstest as server --------------------------------
"$WSTEST" -m fuzzingserver -s autobahn/fuzzingserver.json --webport 0 \
    > "$REPORTS/fuzzingserver.log" 2>&1 &
FS_PID=$!; PIDS+=("$FS_PID")
wait_port 9003 "$FS_PID" "$REPORTS/fuzzingserver.log"

for mode in tokio sync; do
    agent="websock-client-$mode"
    args=(--url ws://127.0.0.1:9003 --agent "$agent")
    if [ "$mode" = sync ]; then args+=(--sync); fi
    log "autobahn-client $agent -> wstest fuzzingserver :9003"
    t0=$(date +%s)
    if ! timeout "$TIMEOUT" "$EXAMPLES/autobahn-client" "${args[@]}" \
            > "$REPORTS/$agent.log" 2>&1; then
        log "autobahn-client $agent failed or timed out"
        show_tail "$REPORTS/$agent.log"
        FAILED=1
    fi
    log "$agent took $(( $(date +%s) - t0 )) s"
done

kill "$FS_PID" 2>/dev/null || true
wait "$FS_PID" 2>/dev/null || true

# ---- grade ---------------------------------------------------------------
check_args=(--expect-agents websock-tokio,websock-sync,websock-client-tokio,websock-client-sync)
if [ "${AUTOBAHN_ALLOW_UNIMPLEMENTED:-0}" = 1 ]; then
    check_args+=(--allow-unimplemented)
fi
# wstest prints "will run N test cases"; every agent must have all N.
n_client=$(grep -o 'will run [0-9]* test cases' "$REPORTS/fuzzingclient.log" | grep -o '[0-9]*' | head -n 1 || true)
n_server=$(grep -o 'will run [0-9]* test cases' "$REPORTS/fuzzingserver.log" | grep -o '[0-9]*' | head -n 1 || true)
if [ -n "$n_client" ] && [ "$n_client" = "$n_server" ]; then
    check_args+=(--expect-cases "$n_client")
else
    log "warning: case counts unknown or different (client spec: ${n_client:-?}, server spec: ${n_server:-?}); not checking them"
fi

if ! python3 autobahn/check.py "$REPORTS/servers" "$REPORTS/clients" "${check_args[@]}"; then
    FAILED=1
fi
if [ "$FAILED" -ne 0 ]; then
    log "FAILED (reports in $REPORTS/servers/index.html and $REPORTS/clients/index.html)"
    exit 1
fi
log "all cases passed"

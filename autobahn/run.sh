#!/usr/bin/env bash
# Runs the Autobahn|Testsuite against websock, both directions:
#   * wstest fuzzingclient  -> examples/echo-server (tokio on :9001, sync on :9002)
#   * wstest fuzzingserver (:9003, :9004) <- examples/autobahn-client (tokio, sync)
# The four agents run concurrently, each against its own wstest process.
# and grades the reports with autobahn/check.py. Reports and logs end up in
# autobahn/reports/. Exit status 0 only if every case passes.
#
# Env: AUTOBAHN_ALLOW_UNIMPLEMENTED=1  accept UNIMPLEMENTED in sections 12/13
#      AUTOBAHN_TIMEOUT=SECONDS        limit for each wstest/client run (3000)
#      WSTEST_VENV=DIR                 where install.sh puts wstest
set -euo pipefail

START=$(date +%s)
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REPORTS=autobahn/reports
TIMEOUT="${AUTOBAHN_TIMEOUT:-3000}"
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

for port in 9001 9002 9003 9004; do
    if port_open "$port"; then
        log "port $port is already in use; stop whatever listens there first"
        exit 1
    fi
done

# ---- tools and binaries --------------------------------------------------
WSTEST="$(bash autobahn/install.sh | tail -n 1)"
log "wstest: $WSTEST"

cargo build --release --features hyper,rustls,tracing --example echo-server --example autobahn-client
EXAMPLES="${CARGO_TARGET_DIR:-target}/release/examples"

rm -rf "$REPORTS"
mkdir -p "$REPORTS"

# Each wstest is one single-threaded Python process, and sections 12 and 13 (compression) keep it
# busy for minutes per agent. So the four agents run at once, each with its own wstest: the
# specs below are autobahn/fuzzingclient.json and autobahn/fuzzingserver.json split per agent.
python3 - "$REPORTS" <<'PY'
import json, sys
reports = sys.argv[1]
client = json.load(open("autobahn/fuzzingclient.json"))
for server in client["servers"]:
    spec = dict(client, servers=[server], outdir=f"{reports}/servers-{server['agent']}")
    json.dump(spec, open(f"{reports}/fuzzingclient-{server['agent']}.json", "w"), indent=1)
server = json.load(open("autobahn/fuzzingserver.json"))
for mode, port in (("tokio", 9003), ("sync", 9004)):
    spec = dict(server, url=f"ws://127.0.0.1:{port}", outdir=f"{reports}/clients-{mode}")
    json.dump(spec, open(f"{reports}/fuzzingserver-{mode}.json", "w"), indent=1)
PY

# ---- servers under test, and wstest's fuzzing servers for our clients ------
"$EXAMPLES/echo-server" --addr 127.0.0.1:9001 > "$REPORTS/echo-server-tokio.log" 2>&1 &
TOKIO_PID=$!; PIDS+=("$TOKIO_PID")
"$EXAMPLES/echo-server" --addr 127.0.0.1:9002 --sync > "$REPORTS/echo-server-sync.log" 2>&1 &
SYNC_PID=$!; PIDS+=("$SYNC_PID")
declare -A FS_PID
for mode in tokio sync; do
    "$WSTEST" -m fuzzingserver -s "$REPORTS/fuzzingserver-$mode.json" --webport 0 \
        > "$REPORTS/fuzzingserver-$mode.log" 2>&1 &
    FS_PID[$mode]=$!; PIDS+=("$!")
done
wait_port 9001 "$TOKIO_PID" "$REPORTS/echo-server-tokio.log"
wait_port 9002 "$SYNC_PID" "$REPORTS/echo-server-sync.log"
wait_port 9003 "${FS_PID[tokio]}" "$REPORTS/fuzzingserver-tokio.log"
wait_port 9004 "${FS_PID[sync]}" "$REPORTS/fuzzingserver-sync.log"

# ---- the four agents, concurrently -----------------------------------------
log "wstest fuzzingclient -> echo-server :9001 (tokio), :9002 (sync); autobahn-client (tokio, sync) -> wstest :9003, :9004"
t0=$(date +%s)
declare -A JOB
for agent in websock-tokio websock-sync; do
    timeout "$TIMEOUT" "$WSTEST" -m fuzzingclient -s "$REPORTS/fuzzingclient-$agent.json" \
        > "$REPORTS/fuzzingclient-$agent.log" 2>&1 &
    JOB[$agent]=$!; PIDS+=("$!")
done
for mode in tokio sync; do
    agent="websock-client-$mode"
    port=9003; args=()
    if [ "$mode" = sync ]; then port=9004; args=(--sync); fi
    timeout "$TIMEOUT" "$EXAMPLES/autobahn-client" --url "ws://127.0.0.1:$port" --agent "$agent" \
        "${args[@]}" > "$REPORTS/$agent.log" 2>&1 &
    JOB[$agent]=$!; PIDS+=("$!")
done
for agent in "${!JOB[@]}"; do
    if ! wait "${JOB[$agent]}"; then
        log "$agent failed or timed out"
        case $agent in
            websock-client-*) show_tail "$REPORTS/$agent.log" ;;
            *) show_tail "$REPORTS/fuzzingclient-$agent.log" ;;
        esac
        FAILED=1
    fi
done
log "the four agents took $(( $(date +%s) - t0 )) s"
for pid_name in "$TOKIO_PID:echo-server-tokio" "$SYNC_PID:echo-server-sync"; do
    if ! kill -0 "${pid_name%%:*}" 2>/dev/null; then
        log "${pid_name#*:} died during the run"
        show_tail "$REPORTS/${pid_name#*:}.log"
        FAILED=1
    fi
done
if grep -q "Connection to .* failed" "$REPORTS"/fuzzingclient-*.log; then
    log "wstest could not connect to a server:"
    grep "Connection to .* failed" "$REPORTS"/fuzzingclient-*.log >&2
    FAILED=1
fi
kill "$TOKIO_PID" "$SYNC_PID" "${FS_PID[tokio]}" "${FS_PID[sync]}" 2>/dev/null || true
wait "${FS_PID[tokio]}" "${FS_PID[sync]}" 2>/dev/null || true

# ---- grade ---------------------------------------------------------------
check_args=(--expect-agents websock-tokio,websock-sync,websock-client-tokio,websock-client-sync)
if [ "${AUTOBAHN_ALLOW_UNIMPLEMENTED:-0}" = 1 ]; then
    check_args+=(--allow-unimplemented)
fi
# wstest prints "will run N test cases"; every agent must have all N.
n_client=$(cat "$REPORTS"/fuzzingclient-*.log | grep -o 'will run [0-9]* test cases' | grep -o '[0-9]*' | head -n 1 || true)
n_server=$(cat "$REPORTS"/fuzzingserver-*.log | grep -o 'will run [0-9]* test cases' | grep -o '[0-9]*' | head -n 1 || true)
if [ -n "$n_client" ] && [ "$n_client" = "$n_server" ]; then
    check_args+=(--expect-cases "$n_client")
else
    log "warning: case counts unknown or different (client spec: ${n_client:-?}, server spec: ${n_server:-?}); not checking them"
fi

if ! python3 autobahn/check.py "$REPORTS"/servers-websock-tokio "$REPORTS"/servers-websock-sync \
        "$REPORTS"/clients-tokio "$REPORTS"/clients-sync "${check_args[@]}"; then
    FAILED=1
fi
if [ "$FAILED" -ne 0 ]; then
    log "FAILED (reports in $REPORTS/*/index.html)"
    exit 1
fi
log "all cases passed"

#!/usr/bin/env bash
# End-to-end test of the WebRTC signaling example (examples/signaling): two headless Chromium
# pages join one room of the server on 127.0.0.1, exchange offer, answer and ICE candidates
# through it, open an RTCDataChannel and send a message each way; closing one page must be
# announced to the other. Before that, plain WebSocket clients check the protocol and the
# limits (tests/signaling/protocol.mjs). Prints how long the peers took to connect.
#
#   bash tests/signaling/run.sh
#
# Exit status 0 only if every check passes. Logs and a screenshot in target/signaling/.
# Installs Chromium (apt) and playwright-core/ws (npm ci in tests/interop/node) if missing,
# with the functions of tests/interop/lib.sh, and builds the example.
#
# Network: the server and the browser run in a network namespace of their own that has only
# the loopback interface (unshare -n, or unshare -rn without root), so no packet can leave the
# machine, and the test asserts that ICE chose 127.0.0.1. Chromium only gathers loopback
# candidates with --allow-loopback-in-peer-connection AND with the page allowed to enumerate
# interfaces, which it is once camera/microphone permission is granted (browser.mjs does, no
# device is opened). Without a namespace (SIGNALING_NETNS=0, or unshare unavailable) the test
# runs on the host's addresses, with mDNS candidate hiding off so that no multicast goes out.
set -euo pipefail
SIG_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$SIG_DIR/../interop/lib.sh"
SIG_OUT="$ROOT/target/signaling"
mkdir -p "$SIG_OUT"
CHROMIUM_ARGS=(
    --chromium-arg=--allow-loopback-in-peer-connection
    --chromium-arg=--disable-features=WebRtcHideLocalIpsWithMdns
)
PHASE_LIMIT=${SIGNALING_TIMEOUT:-100} # seconds for the server, protocol and browser checks

say() { echo "signaling: $*" >&2; }

# Two signaling servers sharing rooms through one Redis (--redis), each page on its own server:
# the same browser checks, prefixed "two nodes:".
two_nodes() {
    local rport nodes=() ports=() n logn line i rc=0
    rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
        >"$SIG_OUT/redis.log" 2>&1 &
    PIDS+=("$!")
    for n in a b; do
        logn="$SIG_OUT/server-$n.log"
        "$EXAMPLES/signaling" --addr 127.0.0.1:0 --redis "redis://127.0.0.1:$rport" >"$logn" 2>&1 &
        PIDS+=("$!")
        nodes+=("$logn")
    done
    for logn in "${nodes[@]}"; do
        line=""
        for ((i = 0; i < 100; i++)); do
            grep -q 'synced\|going on' "$logn" 2>/dev/null &&
                line=$(grep -m1 -o 'listening on http://[0-9.]*:[0-9]*' "$logn" || true)
            [[ -n $line ]] && break
            sleep 0.1
        done
        if [[ -z $line ]]; then
            echo "FAIL two nodes: server start (listening and synced with Redis); see ${logn#"$ROOT"/}"
            show_tail "$logn"
            return
        fi
        ports+=("${line##*:}")
    done
    local route=()
    ((in_netns)) && route=(--expect-route '^(127\.0\.0\.1|\[?::1\]?):')
    timeout --kill-after=5 75 node "$SIG_DIR/browser.mjs" --url "http://127.0.0.1:${ports[0]}/" \
        --url2 "http://127.0.0.1:${ports[1]}/" --room "two-nodes-$$" --chromium "$CHROMIUM" \
        --grant-media "${CHROMIUM_ARGS[@]}" "${route[@]}" --timeout 60 \
        --screenshot "$SIG_OUT/page-two-nodes.png" 2>"$SIG_OUT/browser-two-nodes.log" |
        sed -E 's/^(PASS|FAIL|TIME) /\1 two nodes: /' || rc=$?
    ((rc == 124)) && echo "FAIL two nodes: browser checks timed out after 75 s"
    if grep -q 'joined room' "${nodes[0]}" && grep -q 'joined room' "${nodes[1]}"; then
        echo "PASS two nodes: one page on each server"
    else
        echo "FAIL two nodes: one page on each server (see ${SIG_OUT#"$ROOT"/}/server-[ab].log)"
    fi
}

# The checks against a running server; runs inside the namespace when there is one.
# Prints PASS/FAIL/TIME lines.
phase() {
    trap stop_started EXIT
    trap 'exit 143' TERM INT
    local in_netns=$1 logf="$SIG_OUT/server.log" line port="" i rc=0
    if ((in_netns)); then
        ip link set lo up
    fi
    "$EXAMPLES/signaling" --addr 127.0.0.1:0 >"$logf" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for ((i = 0; i < 300; i++)); do
        line=$(grep -m1 -o 'listening on http://[0-9.]*:[0-9]*' "$logf" 2>/dev/null || true)
        [[ -n $line ]] && port=${line##*:} && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $port ]]; then
        echo "FAIL server start: no 'listening on' line; see ${logf#"$ROOT"/}"
        show_tail "$logf"
        return 1
    fi
    local url="http://127.0.0.1:$port/"
    timeout --kill-after=5 30 node "$SIG_DIR/protocol.mjs" --url "$url" \
        2>"$SIG_OUT/protocol.log" || rc=$?
    ((rc == 124)) && echo "FAIL protocol checks: timed out after 30 s"
    local route=()
    ((in_netns)) && route=(--expect-route '^(127\.0\.0\.1|\[?::1\]?):')
    timeout --kill-after=5 75 node "$SIG_DIR/browser.mjs" --url "$url" --chromium "$CHROMIUM" \
        --grant-media "${CHROMIUM_ARGS[@]}" "${route[@]}" --timeout 60 \
        --screenshot "$SIG_OUT/page.png" 2>"$SIG_OUT/browser.log" || rc=$?
    ((rc == 124)) && echo "FAIL browser checks: timed out after 75 s"
    two_nodes
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "FAIL server alive after the checks: it exited; see ${logf#"$ROOT"/}"
    elif grep -q 'panicked' "$logf"; then
        echo "FAIL no panic in the server: see ${logf#"$ROOT"/}"
    else
        echo "PASS server alive, no panic"
    fi
}

if [[ ${1:-} == --phase ]]; then
    phase "$2"
    exit 0
fi

START=$(date +%s)
trap 'say "wall time $(( $(date +%s) - START )) s"' EXIT
install_chromium
install_node
if ! command -v redis-server >/dev/null; then
    say "installing redis-server (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
fi
say "building the example"
(cd "$ROOT" && nice -n 10 cargo build --release --quiet --example signaling >&2)

# A namespace with only loopback, if this machine lets us make one.
netns=()
if [[ ${SIGNALING_NETNS:-1} != 0 ]] && command -v ip >/dev/null; then
    for try in "unshare -n" "unshare -rn"; do
        if $try ip link set lo up 2>/dev/null; then
            read -ra netns <<<"$try"
            break
        fi
    done
fi
if ((${#netns[@]})); then
    say "running in a private network namespace (${netns[*]}): loopback only"
    in_netns=1
else
    say "no private network namespace: running on the host's addresses; the ICE route is not checked"
    in_netns=0
fi

results="$SIG_OUT/results.txt"
say "installs and build done after $(( $(date +%s) - START )) s; running the checks"
rc=0
timeout --kill-after=10 "$PHASE_LIMIT" "${netns[@]}" bash "$0" --phase "$in_netns" >"$results" || rc=$?
cat "$results"
if ((rc == 124 || rc == 137)); then
    echo "FAIL signaling e2e: TIMED OUT after $PHASE_LIMIT s; logs in ${SIG_OUT#"$ROOT"/}/" | tee -a "$results"
elif ((rc != 0)); then
    echo "FAIL signaling e2e: the check phase exited with status $rc" | tee -a "$results"
fi
passed=$(grep -c '^PASS ' "$results" || true)
failed=$(grep -c '^FAIL ' "$results" || true)
if ((failed)); then
    say "logs: ${SIG_OUT#"$ROOT"/}/{server,protocol,browser}.log"
    show_tail "$SIG_OUT/browser.log" 20
fi
grep '^TIME ' "$results" | sed 's/^TIME /connect time: /' >&2 || true
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))

#!/usr/bin/env bash
# Real clients and servers against websock, both directions:
#   * Python websockets and Node ws clients -> examples/echo-server (tokio and --sync), with
#     permessage-deflate offered and not
#   * Python h2 (RFC 8441 by hand) -> the echo server over h2c and TLS h2
#   * examples/interop-client (tokio and --sync) -> Python websockets and Node ws echo servers
#     (tests/interop/{python,node}/server.*)
#   * headless Chromium -> the echo server's page and its self-test (tests/interop/browser.sh)
# Prints a table (peer, direction, adapter, deflate, case, result), also written to
# target/interop/results.txt; logs in target/interop/logs/. Exit status 0 only if every case
# passes.
#
#   bash tests/interop/run.sh
#
# Installs what it needs, each step a no-op when done: chromium (apt), ws and playwright-core
# (npm ci in tests/interop/node), websockets (pip, in a venv under $WEBSOCK_INTEROP_CACHE,
# default ~/.cache/websock-interop). The permessage-deflate expectation: EXPECT_DEFLATE in
# tests/interop/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$INTEROP_DIR/browser.sh"

START=$(date +%s)
trap 'stop_started; log "wall time $(( $(date +%s) - START )) s"' EXIT
INTEROP_RESULTS="$OUT/results.tsv"
: >"$INTEROP_RESULTS"
rm -f "$OUT"/logs/*.log

install_chromium
install_node
install_python
build_examples
PY="$VENV/bin/python"
log "installs and build done after $(( $(date +%s) - START )) s"

# Their clients -> our echo server. Once websock has permessage-deflate (EXPECT_DEFLATE=1), also
# against `echo-server --no-deflate`, which must decline the offer.
server_modes=(default)
((EXPECT_DEFLATE)) && server_modes+=(no-deflate)
for adapter in tokio sync; do
    for mode in "${server_modes[@]}"; do
        flags=()
        [[ $adapter == sync ]] && flags+=(--sync)
        compressions=(off on)
        expect=$EXPECT_DEFLATE
        if [[ $mode == no-deflate ]]; then
            flags+=(--no-deflate)
            compressions=(on)
            expect=0
        fi
        if ! start_server "$OUT/logs/echo-server-$adapter-$mode.log" \
            "$EXAMPLES/echo-server" --addr 127.0.0.1:0 "${flags[@]}"; then
            row echo-server "client -> websock" "$adapter" "$mode" "(server start)" FAIL
            continue
        fi
        url="ws://127.0.0.1:$SERVER_PORT/"
        for compression in "${compressions[@]}"; do
            offer=offered
            [[ $compression == off ]] && offer=not-offered
            [[ $mode == no-deflate ]] && offer="offered to --no-deflate"
            tag="$adapter-$mode-$compression"
            run_cases python-websockets "client -> websock" "$adapter" "$offer" \
                "$OUT/logs/python-client-$tag.log" 120 \
                "$PY" "$INTEROP_DIR/python/client.py" --url "$url" \
                --compression "$compression" --expect-deflate "$expect"
            run_cases node-ws "client -> websock" "$adapter" "$offer" \
                "$OUT/logs/node-client-$tag.log" 120 \
                node "$INTEROP_DIR/node/client.mjs" --url "$url" \
                --compression "$compression" --expect-deflate "$expect"
        done
        stop_server
    done
done

# WebSockets over HTTP/2 (RFC 8441): Python's h2 package as the client, the WebSocket frames
# built by hand, against the echo server over h2c (prior knowledge) and over TLS (ALPN h2).
for transport in h2c tls; do
    flags=()
    args=()
    if [[ $transport == tls ]]; then
        flags+=(--tls-self-signed)
        args+=(--tls)
    fi
    logf="$OUT/logs/echo-server-h2-$transport.log"
    if ! start_server "$logf" "$EXAMPLES/echo-server" --addr 127.0.0.1:0 "${flags[@]}"; then
        row python-h2 "client -> websock" "tokio-$transport" - "(server start)" FAIL
        continue
    fi
    run_cases python-h2 "client -> websock" "tokio-$transport" offered \
        "$OUT/logs/python-h2-$transport.log" 120 \
        "$PY" "$INTEROP_DIR/python/h2_client.py" --addr "127.0.0.1:$SERVER_PORT" "${args[@]}" \
        --expect-deflate "$EXPECT_DEFLATE"
    stop_server
done

# Our client -> their echo servers. Both accept permessage-deflate when it is offered.
deflate_modes=(not-offered)
((EXPECT_DEFLATE)) && deflate_modes+=(offered)
for peer in python-websockets node-ws; do
    if [[ $peer == python-websockets ]]; then
        server=("$PY" "$INTEROP_DIR/python/server.py")
    else
        server=(node "$INTEROP_DIR/node/server.mjs")
    fi
    if ! start_server "$OUT/logs/$peer-server.log" "${server[@]}"; then
        row "$peer" "websock -> server" - - "(server start)" FAIL
        continue
    fi
    for adapter in tokio sync; do
        for offer in "${deflate_modes[@]}"; do
            args=(--url "ws://127.0.0.1:$SERVER_PORT/")
            [[ $adapter == sync ]] && args+=(--sync)
            [[ $offer == offered ]] && args+=(--deflate)
            run_cases "$peer" "websock -> server" "$adapter" "$offer" \
                "$OUT/logs/interop-client-$peer-$adapter-$offer.log" 120 \
                "$EXAMPLES/interop-client" "${args[@]}"
        done
    done
    stop_server
done

browser_cases

print_table "$OUT/results.txt"

#!/usr/bin/env bash
# A real browser against websock: headless Chromium (Debian's, driven by playwright-core) opens
# the echo server's page (examples/echo-page.html), which runs its self-test over WebSocket:
# text, binary, a 1 MiB message, close 4000 with a reason. Against the tokio and the --sync
# echo server. Screenshots: target/interop/echo-page.png (tokio), echo-page-sync.png (sync).
#
#   bash tests/interop/browser.sh
#
# Installs chromium (apt) and the Node packages if missing, builds the release examples.
# run.sh runs the same cases as part of the whole interop suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The browser cases; rows go to $INTEROP_RESULTS. Needs installs and builds done.
browser_cases() {
    local adapter flag shot
    for adapter in tokio sync; do
        flag=()
        shot="$OUT/echo-page.png"
        if [[ $adapter == sync ]]; then
            flag=(--sync)
            shot="$OUT/echo-page-sync.png"
        fi
        rm -f "$shot"
        if ! start_server "$OUT/logs/browser-echo-server-$adapter.log" \
            "$EXAMPLES/echo-server" --addr 127.0.0.1:0 "${flag[@]}"; then
            row echo-server "browser -> websock" "$adapter" - "(server start)" FAIL
            continue
        fi
        run_cases chromium "browser -> websock" "$adapter" offered \
            "$OUT/logs/browser-$adapter.log" 90 \
            node "$INTEROP_DIR/node/browser.mjs" --url "http://127.0.0.1:$SERVER_PORT/" \
            --screenshot "$shot" --expect-deflate "$EXPECT_DEFLATE" --chromium "$CHROMIUM"
        stop_server
    done
    h2_browser_case
}

# Chromium over https: the page over HTTP/2 (ALPN h2, the server's self-signed certificate
# ignored) and its `new WebSocket('wss://...')` as an RFC 8441 extended CONNECT stream on that
# connection, asserted from the server's log, where each WebSocket says what it arrived on.
h2_browser_case() {
    local logf="$OUT/logs/browser-echo-server-h2.log" shot="$OUT/echo-page-h2.png" over
    rm -f "$shot"
    if ! start_server "$logf" "$EXAMPLES/echo-server" --addr 127.0.0.1:0 --tls-self-signed; then
        row echo-server "browser -> websock" tokio-h2 - "(server start)" FAIL
        return
    fi
    run_cases chromium "browser -> websock" tokio-h2 offered \
        "$OUT/logs/browser-h2.log" 90 \
        node "$INTEROP_DIR/node/browser.mjs" --url "https://127.0.0.1:$SERVER_PORT/" \
        --screenshot "$shot" --expect-deflate "$EXPECT_DEFLATE" --chromium "$CHROMIUM" --expect-h2
    stop_server
    over=$(grep -o 'WebSocket over [a-z0-9/.+]*' "$logf" | sort | uniq -c | tr -s ' ' | paste -sd, -)
    if grep -q 'WebSocket over h2' "$logf" && ! grep -q 'WebSocket over http/1.1' "$logf"; then
        row chromium "browser -> websock" tokio-h2 offered "WebSockets over h2 (server log)" PASS "$over"
    else
        row chromium "browser -> websock" tokio-h2 offered "WebSockets over h2 (server log)" FAIL \
            "server log: ${over:-no WebSocket}"
        show_tail "$logf" 20
    fi
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    START=$(date +%s)
    trap 'stop_started; log "wall time $(( $(date +%s) - START )) s"' EXIT
    INTEROP_RESULTS="$OUT/browser-results.tsv"
    : >"$INTEROP_RESULTS"
    install_chromium
    install_node
    build_examples
    browser_cases
    print_table "$OUT/browser-results.txt"
fi

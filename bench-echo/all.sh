#!/usr/bin/env bash
# The whole benchmark from one command: throughput (run.sh), instructions and system calls per
# message (costs.sh), memory per idle connection (idle.sh) and the 100,000-connection soak
# (soak.sh), fan-out (fanout.sh), HTTP/2 (h2.sh) and worker threads (threads.sh). About an hour and a quarter on 2 cores;
# every script's environment knobs pass through. Each writes its table into BENCHMARKS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for step in run costs idle soak fanout h2 threads; do
    echo "=== bench-echo/$step.sh ===" >&2
    bash "$here/$step.sh"
done

#!/usr/bin/env bash
# The cluster test: its own redis-server (or, with CELMATCH_CLUSTER_REDIS=cluster, a local
# 3-master Redis Cluster) on free loopback ports, 3 workers, a producer registering waits and
# cancels and publishing events, one worker SIGKILLed and replaced per phase. Prints one line:
#   cluster: waits W, fired F, lost 0, duplicated 0, kills K, events/s E (workers N)
# and fails on any loss, duplicate or wrong outcome.
#
# Smoke size by default; long runs: CELMATCH_CLUSTER_KILLS=50 (kills, one per phase) and
# CELMATCH_CLUSTER_WAITS=300 (subscriptions per phase). CELMATCH_CLUSTER_VERBOSE=1 adds a line on
# stderr: ranges taken over and pending events claimed from killed workers.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${CELMATCH_BIN:-${CARGO_TARGET_DIR:-target}/debug/celmatch}"
if [[ -z "${CELMATCH_BIN:-}" ]]; then
    cargo build --locked --quiet -p celmatch-cli
fi
command -v redis-server >/dev/null || { echo "cluster: redis-server is not installed (tests/setup.sh installs it)" >&2; exit 1; }
exec python3 tests/cluster/drive.py --bin "$bin"

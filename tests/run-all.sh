#!/usr/bin/env bash
# Runs every test suite: Rust (core, cluster, CLI, benchmarks' build), the cluster smoke test
# (its own redis-server, workers killed mid-run), Python and Node (against the packages that
# tests/setup.sh installed: the wheel and the npm tarball from dist/).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked
# The conformance table in the log; missing data fails here.
CI=true cargo test --locked -p celmatch --test conformance -- --nocapture
bash tests/cluster/run.sh
bash bindings/python/ci.sh test
bash bindings/node/ci.sh test
# The end-to-end examples: durable workflow runners in Python and TypeScript.
bindings/python/.venv/bin/python examples/python/workflow_runner.py
bash examples/typescript/run.sh

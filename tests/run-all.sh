#!/usr/bin/env bash
# Runs every test suite: Rust (core, CLI, benchmarks' build), Python, Node.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked
bash bindings/python/ci.sh test
bash bindings/node/ci.sh test

#!/usr/bin/env bash
# Runs every test suite (Rust now; Python and Node join as their bindings land).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked

#!/usr/bin/env bash
# Installs and builds everything the test suite needs, on a fresh machine of this project's
# kind (Rust by rustup, Python and Node already present). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fetch --locked
cargo build --workspace --all-targets --locked

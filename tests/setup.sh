#!/usr/bin/env bash
# Installs and builds everything the test suite needs, on a fresh machine of this project's
# kind (Rust by rustup, Python 3 and Node.js with npm already present). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fetch --locked
# The cel-spec conformance data (cel.dev/expr, pinned, through the Go module proxy).
bash tests/conformance/fetch.sh
cargo build --all-targets --locked
bash bindings/python/ci.sh setup
bash bindings/node/ci.sh setup
# The fuzz smoke run (CI) needs cargo-fuzz; it runs on stable Rust with `-s none`.
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

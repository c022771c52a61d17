#!/usr/bin/env bash
# Installs and builds everything the test suite needs, on a fresh machine of this project's
# kind (Rust by rustup, Python 3 and Node.js with npm already present; Debian's apt-get for
# redis-server when it is absent). Idempotent.
#
# Two builds: the dev profile (cargo test) and one release build that makes both packages
# (dist/build.sh: the manylinux wheel and the npm tarball). The Python and Node tests run
# against those packages installed as a user installs them, not against the source tree.
# The fuzz targets are built, and cargo-fuzz installed, by fuzz/run.sh alone.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fetch --locked
# The cluster tests start their own redis-server (Debian's package) on free loopback ports.
if ! command -v redis-server >/dev/null 2>&1; then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server
fi
# The cel-spec conformance data (cel.dev/expr, pinned, through the Go module proxy).
bash tests/conformance/fetch.sh
cargo build --all-targets --locked
bash dist/build.sh
bash bindings/python/ci.sh setup
bash bindings/node/ci.sh setup

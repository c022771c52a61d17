#!/usr/bin/env bash
# CI entry points for the Node package (called by the top-level test scripts).
#
#   bindings/node/ci.sh setup   install the pinned dev dependencies (npm ci, from package-lock.json)
#                               and build the release addon; needs only Rust (cargo) and Node/npm
#   bindings/node/ci.sh test    node --test: the shared corpus, the API, errors, worker_threads,
#                               the tsc --noEmit type check and the npm pack → install → import test
set -euo pipefail
cd "$(dirname "$0")"

case "${1:-}" in
  setup)
    if [ -f package-lock.json ]; then
      npm ci --no-audit --no-fund
    else
      npm install --no-audit --no-fund
    fi
    npm run build
    ;;
  test)
    node --test test/*.test.mjs
    ;;
  *)
    echo "usage: $0 setup|test" >&2
    exit 2
    ;;
esac

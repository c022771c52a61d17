#!/usr/bin/env bash
# CI entry points for the Node package (called by the top-level test scripts).
#
#   bindings/node/ci.sh setup     the pinned dev dependencies (npm ci: napi CLI, tsc), then the
#                                 tarball from dist/ (bash dist/build.sh) installed into a fresh
#                                 project, dist/.node-app, with no Rust on PATH, as a user would
#   bindings/node/ci.sh develop   the dev dependencies and the release addon built from source
#                                 (npm run build, for this machine's glibc); drops dist/.node-app
#   bindings/node/ci.sh test      node --test: the shared corpus, the API, errors, worker_threads,
#                                 the tsc --noEmit type check and the npm pack → install → import
#                                 test, against dist/.node-app if setup made it, else the sources
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
app="$root/dist/.node-app"
cd "$here"

. "$root/dist/no-rust-path.sh"

dev_deps() {
  npm ci --no-audit --no-fund
}

tarball() {
  local t=("$root"/dist/celmatch-*.tgz)
  [ -f "${t[0]}" ] || { echo "no npm tarball in $root/dist: run 'bash dist/build.sh' first" >&2; exit 2; }
  printf '%s' "${t[0]}"
}

case "${1:-}" in
  setup)
    [ -d node_modules/@napi-rs/cli ] || dev_deps
    t="$(tarball)"
    rm -rf "$app"
    mkdir -p "$app"
    printf '{ "name": "celmatch-installed", "version": "0.0.0", "private": true }\n' >"$app/package.json"
    (cd "$app" && PATH="$(no_rust_path)" npm install --no-audit --no-fund --offline "$t")
    node -e "const p = require('$app/node_modules/celmatch/package.json'); console.log('celmatch', p.version, 'installed in $app')"
    ;;
  develop)
    dev_deps
    rm -rf "$app"
    npm run build
    ;;
  test)
    if [ -d "$app/node_modules/celmatch" ]; then
      echo "testing the installed package in $app (from $(tarball))"
      export CELMATCH_NODE_PACKAGE="$app/node_modules/celmatch" CELMATCH_NODE_TARBALL="$(tarball)"
    else
      echo "testing the source tree $here"
    fi
    PATH="$(no_rust_path)" node --test test/*.test.mjs
    ;;
  *)
    echo "usage: $0 setup|develop|test" >&2
    exit 2
    ;;
esac

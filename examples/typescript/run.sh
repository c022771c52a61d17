#!/usr/bin/env bash
# Type-checks and runs workflow_runner.ts against the installed celmatch package (the tarball
# that tests/setup.sh installed into dist/.node-app, or CELMATCH_NODE_PACKAGE; else the source
# tree in bindings/node), in a scratch project where `celmatch` resolves as it does for users.
# Uses the TypeScript compiler from bindings/node's dev dependencies.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tsc="$root/bindings/node/node_modules/.bin/tsc"
[ -x "$tsc" ] || { echo "run.sh: no tsc: run 'bash bindings/node/ci.sh setup' first" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/node_modules"
pkg="${CELMATCH_NODE_PACKAGE:-$root/dist/.node-app/node_modules/celmatch}"
[ -d "$pkg" ] || pkg="$root/bindings/node"
ln -s "$pkg" "$work/node_modules/celmatch"
cp "$here/workflow_runner.ts" "$work/"
echo '{"type": "module"}' > "$work/package.json"
cat > "$work/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "es2022",
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "strict": true,
    "skipLibCheck": false,
    "types": ["node"],
    "typeRoots": ["ROOT/bindings/node/node_modules/@types"],
    "outDir": "out"
  },
  "files": ["workflow_runner.ts"]
}
JSON
sed -i "s|ROOT|$root|" "$work/tsconfig.json"
(cd "$work" && "$tsc" -p tsconfig.json)
node "$work/out/workflow_runner.js" "$work/runner.db"

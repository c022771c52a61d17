#!/usr/bin/env bash
# Fetches the cel-spec "simple" conformance tests into tests/conformance/data/ (not committed).
# The data comes from cel-spec's own Go module, cel.dev/expr, pinned below, through the Go
# module proxy: `go mod download` checks the archive against the checksum database, so the
# bytes are the ones every other user of that version gets. Idempotent: a data directory
# already holding this version is left alone.
#
# Needs: go (any version with modules). Takes about a second on a warm network. (The npm
# package @bufbuild/cel-spec carries the same tests compiled to JavaScript, not as text
# protos, so it is no substitute.)
set -euo pipefail
VERSION=v0.26.0
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/data"
if [[ -f "$dest/VERSION" && "$(cat "$dest/VERSION")" == "cel.dev/expr@$VERSION" ]]; then
    echo "cel-spec tests cel.dev/expr@$VERSION already in $dest"
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "fetch.sh: needs the Go toolchain (go mod download) to fetch cel.dev/expr@$VERSION" >&2
    exit 1
fi
cache="$(mktemp -d)"
trap 'rm -rf "$cache"' EXIT
# A private module cache, writable so that the trap can remove it.
json="$(GOMODCACHE="$cache" GOFLAGS=-modcacherw go mod download -json "cel.dev/expr@$VERSION")"
src="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$src" || ! -d "$src/tests/simple/testdata" ]]; then
    echo "fetch.sh: go mod download gave no tests/simple/testdata:" >&2
    printf '%s\n' "$json" >&2
    exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
cp "$src"/tests/simple/testdata/*.textproto "$dest/"
chmod u+w "$dest"/*.textproto
echo "cel.dev/expr@$VERSION" > "$dest/VERSION"
echo "fetched $(ls "$dest"/*.textproto | wc -l) cel-spec test files (cel.dev/expr@$VERSION) into $dest"

#!/usr/bin/env bash
# Builds the installable packages into dist/, for x86_64 Linux with glibc 2.17 or later:
#
#   dist/celmatch-<v>-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl   pip install it
#   dist/celmatch-<v>.tar.gz                                                    the sdist (needs Rust)
#   dist/celmatch-<v>.tgz                                                       npm install it
#
# Needs Rust (cargo), Python 3 with venv, Node.js with npm. Everything else comes from PyPI into
# dist/.tools (maturin, and zig from the `ziglang` package, which links against old glibc
# symbol versions: no container, no toolchain download) and from npm (bindings/node: npm ci).
#
# One release build serves both packages: maturin builds the Python extension with zig as the
# linker, and the Node addon is then built by `napi build` with the same environment maturin gave
# cargo (recorded by a `cargo` wrapper on PATH), so cargo finds the dependency tree, core
# included, already built. Building the addon with another zig wrapper (`napi build -x`, which
# runs cargo-zigbuild) would compile everything a second time: cargo's fingerprint includes the
# linker.
#
# Checks what it built: the wheel's platform tag and both libraries' highest GLIBC_ symbol
# version (at most 2.17). Prints the paths of the three files.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/dist"
tools="$out/.tools"
glibc=2.17                         # manylinux2014; the oldest glibc Rust's std supports
target=x86_64-unknown-linux-gnu

if ! command -v cargo >/dev/null; then
    echo "dist/build.sh: needs Rust (cargo) on PATH" >&2
    exit 2
fi
if [ "$(uname -sm)" != "Linux x86_64" ]; then
    echo "dist/build.sh: builds x86_64 Linux packages on x86_64 Linux only (this is $(uname -sm))" >&2
    exit 2
fi

# The build tools, pinned. ziglang 0.17 needs maturin's zig support of 1.16.
if [ ! -x "$tools/bin/python" ]; then
    python3 -m venv "$tools"
fi
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check "maturin==1.16.0" "ziglang==0.17.1"

rm -f "$out"/celmatch-*.whl "$out"/celmatch-*.tar.gz "$out"/celmatch-*.tgz

# The sdist: sources only, nothing compiled.
"$tools/bin/maturin" sdist --manifest-path bindings/python/Cargo.toml --out "$out"

# The wheel. A `cargo` first on PATH writes down the environment of maturin's build command.
shim="$(mktemp -d)"
trap 'rm -rf "$shim"' EXIT
real_cargo="$(command -v cargo)"
cat >"$shim/cargo" <<EOF
#!/bin/sh
case "\$1" in rustc|build) env -0 >"$shim/env" ;; esac
exec "$real_cargo" "\$@"
EOF
chmod +x "$shim/cargo"
PATH="$shim:$tools/bin:$PATH" "$tools/bin/maturin" build --release --locked --zig \
    --compatibility manylinux2014 --target "$target" \
    --manifest-path bindings/python/Cargo.toml --out "$out"
wheel="$(ls "$out"/celmatch-*-cp39-abi3-manylinux2014_x86_64*.whl)"

# The Node addon, in maturin's environment (less what concerns pyo3 only).
(
    cd bindings/node
    [ -d node_modules/@napi-rs/cli ] || npm ci --no-audit --no-fund
    rm -f celmatch.*.node
    env_args=()
    while IFS= read -r -d '' kv; do
        case "$kv" in
            PYO3_*|PYTHON_SYS_EXECUTABLE=*|_=*|PWD=*|OLDPWD=*|SHLVL=*) ;;
            *) env_args+=("$kv") ;;
        esac
    done <"$shim/env"
    # No --strip: it would set RUSTFLAGS and rebuild every dependency; strip below instead.
    env -i "${env_args[@]}" npx napi build --platform --release --no-js --target "$target" -- --locked
    strip --strip-unneeded celmatch.linux-x64-gnu.node
    npm pack --pack-destination "$out" >/dev/null
)
tarball="$(ls "$out"/celmatch-*.tgz)"

# Checks.
max_glibc() { objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1; }
older_or_equal() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$2" ]; }
check="$(mktemp -d)"
"$tools/bin/python" -m zipfile -e "$wheel" "$check/wheel"   # no unzip needed
tar -xzf "$tarball" -C "$check"
tags="$(grep '^Tag:' "$check"/wheel/celmatch-*.dist-info/WHEEL | tr '\n' ' ')"
py_glibc="$(max_glibc "$check"/wheel/celmatch/_celmatch.abi3.so)"
node_glibc="$(max_glibc "$check"/package/celmatch.linux-x64-gnu.node)"
rm -rf "$check"
echo "dist/build.sh: wheel tags: $tags"
echo "dist/build.sh: highest GLIBC_ symbol version: Python extension $py_glibc, Node addon $node_glibc (at most $glibc)"
case "$tags" in *cp39-abi3-manylinux2014_x86_64*) ;; *) echo "dist/build.sh: wrong wheel tag" >&2; exit 1 ;; esac
for v in "$py_glibc" "$node_glibc"; do
    older_or_equal "$v" "$glibc" || { echo "dist/build.sh: needs glibc $v, newer than $glibc" >&2; exit 1; }
done
ls -1 "$out"/celmatch-*

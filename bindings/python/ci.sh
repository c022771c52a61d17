#!/usr/bin/env bash
# Python package CI steps. Usage:
#   bindings/python/ci.sh setup     # a fresh venv at bindings/python/.venv with pytest and mypy, and
#                                   # the wheel from dist/ (bash dist/build.sh) installed into it
#                                   # with no Rust on PATH, as a user would install it
#   bindings/python/ci.sh develop   # the same venv with the package built from source instead
#                                   # (maturin, release mode, for this machine's glibc)
#   bindings/python/ci.sh test      # pytest bindings/python/tests against what the venv holds
# Needs Python 3.9+ with the venv module; packages come from PyPI. `develop` also needs Rust.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
py="$venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check)

. "$root/dist/no-rust-path.sh"

fresh_venv() {
    python3 -m venv --clear "$venv"
    "${pip[@]}" install --quiet --upgrade pip
    # mypy: the tests check the type stubs against the module with mypy.stubtest.
    "${pip[@]}" install --quiet "pytest>=7" "mypy>=1.10"
    # A `maturin develop` build leaves the extension next to the sources; never test that one.
    rm -f "$here"/python/celmatch/_celmatch*.so "$here"/python/celmatch/_celmatch*.pyd
}

setup() {
    local wheels=("$root"/dist/celmatch-*-abi3-manylinux*.whl)
    if [ ! -f "${wheels[0]}" ]; then
        echo "no wheel in $root/dist: run 'bash dist/build.sh' first" >&2
        exit 2
    fi
    fresh_venv
    # Binary only, from the file: pip may not build anything (and so never fetches a toolchain).
    PATH="$(no_rust_path)" "${pip[@]}" install --no-index --only-binary=:all: "${wheels[0]}"
    show
}

develop() {
    fresh_venv
    "${pip[@]}" install --quiet "maturin>=1.9,<2"
    # Builds the extension in release mode with the venv's maturin (no build isolation: the
    # backend runs the `maturin` executable, hence PATH) and installs it, from source, with pip.
    PATH="$venv/bin:$PATH" "${pip[@]}" install --no-build-isolation --force-reinstall --no-deps "$here"
    show
}

show() {
    "$py" -c 'import celmatch; print("celmatch", celmatch.__version__, "installed in", celmatch.__file__)'
}

run_tests() {
    if [ ! -x "$py" ]; then
        echo "no venv at $venv: run '$0 setup' first" >&2
        exit 2
    fi
    show
    # Run from the tests' directory so `import celmatch` is the installed package.
    cd "$here"
    PATH="$(no_rust_path)" "$py" -m pytest -q -p no:cacheprovider tests "$@"
}

case "${1:-}" in
    setup) setup ;;
    develop) develop ;;
    test) shift; run_tests "$@" ;;
    *)
        echo "usage: $0 setup|develop|test [pytest args]" >&2
        exit 2
        ;;
esac

#!/usr/bin/env bash
# Python package CI steps. Usage:
#   bindings/python/ci.sh setup   # venv at bindings/python/.venv, maturin + pytest, pip install the package
#   bindings/python/ci.sh test    # pytest bindings/python/tests with that venv
# Needs only Rust (cargo) and Python 3.9+ with the venv module; packages come from PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
py="$venv/bin/python"

setup() {
    if [ ! -x "$py" ]; then
        python3 -m venv "$venv"
    fi
    "$py" -m pip install --quiet --disable-pip-version-check --upgrade pip
    # mypy: the tests check the type stubs against the module with mypy.stubtest.
    "$py" -m pip install --quiet --disable-pip-version-check "maturin>=1.9,<2" "pytest>=7" "mypy>=1.10"
    # A `maturin develop` build leaves the extension next to the sources; never ship it.
    rm -f "$here"/python/celmatch/_celmatch*.so "$here"/python/celmatch/_celmatch*.pyd
    # Builds the extension in release mode with maturin (the venv's, no build isolation: the
    # backend runs the `maturin` executable, hence PATH) and installs it like any user would:
    # from source, with pip.
    PATH="$venv/bin:$PATH" "$py" -m pip install --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps "$here"
    "$py" -c 'import celmatch; print("celmatch", celmatch.__version__, "installed in", celmatch.__file__)'
}

run_tests() {
    if [ ! -x "$py" ]; then
        echo "no venv at $venv: run '$0 setup' first" >&2
        exit 2
    fi
    # Run from the tests' directory so `import celmatch` is the installed package.
    cd "$here"
    "$py" -m pytest -q -p no:cacheprovider tests "$@"
}

case "${1:-}" in
    setup) setup ;;
    test) shift; run_tests "$@" ;;
    *)
        echo "usage: $0 setup|test [pytest args]" >&2
        exit 2
        ;;
esac

"""The sdist's build backend: maturin's, except that it never downloads a Rust toolchain.

Without cargo on PATH maturin's backend would fetch and install Rust (several hundred MB) during
`pip install`. Building celmatch from source needs Rust the user installed (rustup); everyone
else should install the wheel. So this backend says that, and otherwise is maturin's.
"""

import os
import shutil

os.environ.setdefault("MATURIN_NO_INSTALL_RUST", "1")

from maturin import *  # noqa: E402,F401,F403  (the PEP 517 hooks)
from maturin import build_wheel as _build_wheel  # noqa: E402
from maturin import build_editable as _build_editable  # noqa: E402
from maturin import prepare_metadata_for_build_wheel as _prepare_metadata  # noqa: E402


def _require_cargo():
    if not shutil.which("cargo"):
        raise RuntimeError(
            "celmatch: building from source needs Rust (cargo on PATH; https://rustup.rs). "
            "Install the manylinux wheel instead (dist/build.sh makes it), or install Rust first."
        )


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _require_cargo()
    return _build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _require_cargo()
    return _build_editable(wheel_directory, config_settings, metadata_directory)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _require_cargo()
    return _prepare_metadata(metadata_directory, config_settings)

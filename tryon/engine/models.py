"""Where the engine's model files live, which ones it needs, and how to check them.

The three MediaPipe models ship inside the ``mediapipe`` wheel on PyPI (Apache-2.0).
They are fetched once at install time by ``python -m tryon.engine.fetch_models``;
nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent / "models"
FETCH_COMMAND = "python -m tryon.engine.fetch_models"


@dataclass(frozen=True)
class ModelFile:
    """One model file: its name on disk, where it sits inside the wheel, its sha256."""

    name: str
    path_in_wheel: str
    sha256: str


POSE_LANDMARK = ModelFile(
    "pose_landmark_full.tflite",
    "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
)
SELFIE_SEGMENTATION = ModelFile(
    "selfie_segmentation.tflite",
    "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
)
FACE_DETECTION = ModelFile(
    "face_detection_short_range.tflite",
    "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
)
MODEL_FILES = (POSE_LANDMARK, SELFIE_SEGMENTATION, FACE_DETECTION)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def problems_with_model_files(models_dir: Path) -> list[str]:
    """Describe every missing or corrupt model file; an empty list means all is well."""
    return _read_and_verify(models_dir)[1]


def read_model_bytes(models_dir: Path) -> dict[str, bytes]:
    """Read and verify all model files, keyed by file name.

    Raises ValueError listing the problems when any file is missing or corrupt.
    """
    contents, problems = _read_and_verify(models_dir)
    if problems:
        raise ValueError("; ".join(problems))
    return contents


def _read_and_verify(models_dir: Path) -> tuple[dict[str, bytes], list[str]]:
    contents, problems = {}, []
    for model in MODEL_FILES:
        path = Path(models_dir) / model.name
        if not path.is_file():
            problems.append(f"model file {path} is missing; run `{FETCH_COMMAND}`")
            continue
        data = path.read_bytes()
        if sha256_of(data) != model.sha256:
            problems.append(
                f"model file {path} is corrupt (sha256 mismatch); "
                f"run `{FETCH_COMMAND}` to replace it"
            )
            continue
        contents[model.name] = data
    return contents, problems

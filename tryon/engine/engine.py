"""The try-on engine: one object per process, safe to share between worker threads."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .composite import compose_layer, paste_layer, warp_garment
from .errors import (
    EngineError,
    GarmentImageError,
    ModelsMissingError,
    PersonImageError,
    UnsupportedCategoryError,
)
from .garment import cut_out_garment
from .imaging import downscale_to
from .models import DEFAULT_MODELS_DIR, FETCH_COMMAND, problems_with_model_files, read_model_bytes
from .networks import ModelSet
from .person import analyse_person
from .placement import place_garment

SUPPORTED_CATEGORIES = ("auto", "tops")
MIN_IMAGE_SIDE = 128
# Person photos are dressed at most this large (longer side); bigger photos get the garment
# layer upsampled onto them, so time and memory stay bounded up to the 40 MP the service takes.
WORK_MAX_SIDE = 1280


@dataclass
class EngineResult:
    image: np.ndarray  # uint8 BGR, the person image's size
    timings_ms: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


class TryOnEngine:
    """Dresses a person photo in a garment from a product photo, offline, on the CPU.

    Constructing the engine is cheap; models are read on ``load()`` or the first
    ``try_on()``. The model files are read once per engine, but every thread gets its
    own copy of the networks: a ``cv2.dnn.Net`` is not safe to run from two threads.
    """

    def __init__(self, models_dir: str | Path = DEFAULT_MODELS_DIR):
        self.models_dir = Path(models_dir)
        self._load_lock = threading.Lock()
        self._model_bytes: dict[str, bytes] | None = None
        self._per_thread = threading.local()

    def check(self) -> list[str]:
        """Problems with the installation, each naming the fix; empty when ready."""
        return problems_with_model_files(self.models_dir)

    def load(self) -> None:
        """Read and verify the model files (once).

        Raises ModelsMissingError naming the fetch command.
        """
        with self._load_lock:
            if self._model_bytes is not None:
                return
            try:
                model_bytes = read_model_bytes(self.models_dir)
            except ValueError as problem:
                raise ModelsMissingError(
                    "the local try-on engine's model files are not installed correctly: "
                    f"{problem}. "
                    f"Fetch them with `{FETCH_COMMAND}`"
                ) from None
            # Parse once to prove OpenCV accepts the files, then drop the networks: only
            # the threads that run requests keep a set (each costs ~100 MB once used).
            ModelSet(model_bytes)
            self._model_bytes = model_bytes

    def try_on(
        self, person_bgr: np.ndarray, garment_bgr: np.ndarray, category: str = "tops"
    ) -> EngineResult:
        started = time.perf_counter()
        _check_category(category)
        _check_image(person_bgr, "person", PersonImageError)
        _check_image(garment_bgr, "garment", GarmentImageError)
        models = self._models_for_this_thread()

        timings: dict[str, float] = {}
        clock = _StageClock(timings)
        with clock("person"):
            work_bgr, work_scale = downscale_to(person_bgr, WORK_MAX_SIDE)
            person = analyse_person(work_bgr, models)
        with clock("garment"):
            cutout = cut_out_garment(garment_bgr, models)
        height, width = work_bgr.shape[:2]
        with clock("warp"):
            placement = place_garment(person, cutout.keypoints)
            warped = warp_garment(garment_bgr, cutout, placement, (width, height))
        with clock("composite"):
            layer = compose_layer(work_bgr, person, placement, warped)
            image = paste_layer(person_bgr, layer, work_scale, person.face.box)
        timings["total"] = round((time.perf_counter() - started) * 1000, 1)
        info = {
            "category": "tops",
            "garment_kind": "top",
            "person": person.info,
            "garment": cutout.info,
        }
        return EngineResult(image=image, timings_ms=timings, info=info)

    def _models_for_this_thread(self) -> ModelSet:
        models = getattr(self._per_thread, "models", None)
        if models is None:
            self.load()
            models = ModelSet(self._model_bytes)
            self._per_thread.models = models
        return models


class _StageClock:
    """Times named stages into a dict, in milliseconds."""

    def __init__(self, timings: dict[str, float]):
        self._timings = timings

    def __call__(self, stage: str) -> _StageClock:
        self._stage = stage
        return self

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self._timings[self._stage] = round((time.perf_counter() - self._started) * 1000, 1)


def _check_category(category: str) -> None:
    if not isinstance(category, str) or category.strip().lower() not in SUPPORTED_CATEGORIES:
        raise UnsupportedCategoryError(
            f"the local engine cannot dress category {category!r}; it supports tops "
            "(t-shirts, shirts, sweaters, jackets): use category 'tops' or 'auto'"
        )


def _check_image(image: np.ndarray, role: str, error: type[EngineError]) -> None:
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
    ):
        raise error(f"the {role} image must be a colour image (8-bit, 3 channels)")
    if min(image.shape[:2]) < MIN_IMAGE_SIDE:
        raise error(
            f"the {role} image is too small ({image.shape[1]}x{image.shape[0]}); "
            f"send at least {MIN_IMAGE_SIDE} pixels on the shorter side"
        )

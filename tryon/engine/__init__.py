"""Offline, CPU-only virtual try-on for tops (numpy + OpenCV, no web framework).

engine = TryOnEngine()
result = engine.try_on(person_bgr, garment_bgr, category="tops")
"""

from .engine import EngineResult, TryOnEngine
from .errors import (
    EngineError,
    GarmentImageError,
    ModelsMissingError,
    PersonImageError,
    UnsupportedCategoryError,
)
from .models import DEFAULT_MODELS_DIR

__all__ = [
    "DEFAULT_MODELS_DIR",
    "EngineError",
    "EngineResult",
    "GarmentImageError",
    "ModelsMissingError",
    "PersonImageError",
    "TryOnEngine",
    "UnsupportedCategoryError",
]

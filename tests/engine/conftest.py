"""Fixtures of the engine tests: one engine per session, real photos (scikit-image's
astronaut and the two in photos/), synthetic garments.

The model files must be installed (`python -m tryon.engine.fetch_models`); when they
are not, every test that needs the engine fails and says so instead of skipping.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from tryon.engine import TryOnEngine

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def engine() -> TryOnEngine:
    engine = TryOnEngine()
    problems = engine.check()
    if problems:
        pytest.fail(
            "the engine's model files are not installed: "
            + "; ".join(problems)
            + " (run `python -m tryon.engine.fetch_models`)",
            pytrace=False,
        )
    engine.load()
    return engine


def _load_helper(name: str):
    """A helper module beside this file, loaded by path so imports do not depend on the rootdir."""
    spec = importlib.util.spec_from_file_location(f"engine_test_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def garment_photos():
    """The synthetic garment generator."""
    return _load_helper("garment_photos")


@pytest.fixture(scope="session")
def person_photos():
    """The real person photos kept in photos/ (Apache-2.0, see photos/NOTICE.md)."""
    return _load_helper("person_photos")


@pytest.fixture(scope="session")
def astronaut(garment_photos) -> np.ndarray:
    """Eileen Collins, frontal, head to waist (NASA, public domain), 512 x 512."""
    return garment_photos.to_bgr(data.astronaut())


@pytest.fixture(scope="session")
def portrait(astronaut) -> np.ndarray:
    """The astronaut as a 768 x 1024 portrait, the service's typical request size."""
    return cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)[:, 128:896].copy()


@pytest.fixture(scope="session")
def blue_tshirt(garment_photos) -> np.ndarray:
    return garment_photos.tshirt(colour=(150, 75, 30))

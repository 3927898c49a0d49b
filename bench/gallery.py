"""Write a small gallery of engine results to docs/gallery/ (person | garment | result).

    .venv/bin/python bench/gallery.py

Uses the astronaut photo from scikit-image (NASA, public domain) and the synthetic
garments of the tests; each picture is a JPEG well under 150 KB.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tryon.engine import TryOnEngine  # noqa: E402

OUT = REPO / "docs" / "gallery"
PANEL_HEIGHT = 400


def load_photos_module():
    spec = importlib.util.spec_from_file_location("garment_photos", REPO / "tests/engine/garment_photos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def panel(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return cv2.resize(image, (round(width * PANEL_HEIGHT / height), PANEL_HEIGHT), interpolation=cv2.INTER_AREA)


def main():
    from skimage import data

    photos = load_photos_module()
    astronaut = photos.to_bgr(data.astronaut())
    portrait = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)[:, 128:896].copy()
    combinations = {
        "blue-logo-tee": (portrait, photos.tshirt(colour=(150, 75, 30))),
        "white-tee-on-white": (portrait, photos.tshirt(colour=(240, 240, 240), print_kind=None)),
        "striped-long-sleeves": (portrait, photos.tshirt(colour=(60, 60, 200), print_kind="stripes",
                                                         long_sleeves=True)),
        "green-tee-grey-background": (cv2.flip(portrait, 1),
                                      photos.tshirt(colour=(40, 160, 40), background=(128, 128, 128))),
        "black-tee-square-photo": (astronaut, photos.tshirt(colour=(30, 30, 30))),
    }
    engine = TryOnEngine()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (person, garment) in combinations.items():
        result = engine.try_on(person, garment)
        strip = np.hstack([panel(person), panel(garment), panel(result.image)])
        path = OUT / f"{name}.jpg"
        cv2.imwrite(str(path), strip, [cv2.IMWRITE_JPEG_QUALITY, 82])
        print(f"{path.relative_to(REPO)}  {path.stat().st_size // 1024} KB  {result.timings_ms['total']:.0f} ms")


if __name__ == "__main__":
    main()

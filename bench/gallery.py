"""Write a small gallery of engine results to docs/gallery/ (person | garment | result).

    .venv/bin/python bench/gallery.py

The people are the real photos kept for the tests in tests/engine/photos/ (Apache-2.0,
see the NOTICE.md there), the standing man recoloured to a lilac T-shirt, and the
astronaut from scikit-image (NASA, public domain); the garments are the synthetic
catalogue shots of the tests. Each picture is a JPEG well under 150 KB.
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


def load_test_module(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / f"tests/engine/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def panel(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return cv2.resize(
        image, (round(width * PANEL_HEIGHT / height), PANEL_HEIGHT), interpolation=cv2.INTER_AREA
    )


def combinations(garments, people) -> dict:
    from skimage import data

    astronaut = garments.to_bgr(data.astronaut())
    portrait = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)[:, 128:896].copy()
    return {
        "standing-man-blue-logo-tee": (people.frontal_man(), garments.tshirt(colour=(150, 75, 30))),
        "lilac-tee-to-knit-vest": (
            people.frontal_man_in(),
            garments.tshirt(
                colour=(215, 232, 244), shape="vest", print_kind="motif", background=(250, 250, 250)
            ),
        ),
        "seated-man-striped-long-sleeves": (
            people.seated_man(),
            garments.tshirt(colour=(60, 60, 200), print_kind="stripes", long_sleeves=True),
        ),
        "seated-man-tight-crop-angled-tee": (
            people.seated_man(),
            garments.tight_crop(
                garments.tshirt(colour=(40, 40, 170), shape="angled", print_kind=None)
            ),
        ),
        "standing-man-open-cardigan": (
            people.frontal_man(),
            garments.tight_crop(
                garments.tshirt(
                    colour=(60, 90, 120), long_sleeves=True, open_front=True, print_kind="rib"
                )
            ),
        ),
        "astronaut-white-tee-on-white": (
            portrait,
            garments.tshirt(colour=(240, 240, 240), print_kind=None),
        ),
    }


def main():
    garments, people = load_test_module("garment_photos"), load_test_module("person_photos")
    engine = TryOnEngine()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (person, garment) in combinations(garments, people).items():
        result = engine.try_on(person, garment)
        strip = np.hstack([panel(person), panel(garment), panel(result.image)])
        path = OUT / f"{name}.jpg"
        cv2.imwrite(str(path), strip, [cv2.IMWRITE_JPEG_QUALITY, 82])
        print(
            f"{path.relative_to(REPO)}  {path.stat().st_size // 1024} KB  "
            f"{result.timings_ms['total']:.0f} ms"
        )


if __name__ == "__main__":
    main()

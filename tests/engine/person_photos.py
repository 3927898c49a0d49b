"""Test images: the two real person photos kept in photos/ (Apache-2.0, see photos/NOTICE.md)
and a variant of the standing man in a lilac T-shirt, to check that old sleeves do not show.

The copies live in the repository so the tests do not depend on ../shared being there.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

PHOTOS = Path(__file__).resolve().parent / "photos"
LILAC = (205, 160, 200)  # BGR
# Rows of the standing man's photo (576 x 864) that his T-shirt spans (collar to hem), and the
# box of its white print.
TEE_ROWS = (270, 715)
PRINT_BOX = (slice(405, 465), slice(175, 390))


def frontal_man() -> np.ndarray:
    """A man standing frontally on a plain light studio background, black T-shirt, 576 x 864."""
    return _read("frontal-man-black-tee.webp")


def seated_man() -> np.ndarray:
    """A man seated on a ledge in front of a busy background, white T-shirt, 832 x 1248."""
    return _read("seated-man-white-tee.webp")


def frontal_man_in(colour=LILAC) -> np.ndarray:
    """The standing man with his black T-shirt (and its print) recoloured, folds kept."""
    photo = frontal_man()
    tee = _black_tee(photo)
    lightness = cv2.cvtColor(photo, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    typical = float(np.median(lightness[tee]))
    shade = np.clip(0.8 + (lightness - typical) / 90.0, 0.55, 1.15)[..., None]
    recoloured = np.clip(np.float32(colour) * shade, 0, 255).astype(np.uint8)
    soft = cv2.GaussianBlur(tee.astype(np.float32), (0, 0), 1.0)[..., None]
    return (recoloured * soft + photo * (1 - soft)).astype(np.uint8)


def frontal_man_tee() -> np.ndarray:
    """Boolean mask of the standing man's T-shirt (576 x 864)."""
    return _black_tee(frontal_man())


def _black_tee(photo: np.ndarray) -> np.ndarray:
    """The T-shirt's pixels: the dark blob inside the tee's rows, and its print."""
    dark = cv2.cvtColor(photo, cv2.COLOR_BGR2HSV)[..., 2] < 75
    dark[: TEE_ROWS[0]] = False
    dark[TEE_ROWS[1] :] = False
    dark[PRINT_BOX] = True
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark.astype(np.uint8))
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def _read(name: str) -> np.ndarray:
    image = cv2.imread(str(PHOTOS / name), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"test photo {PHOTOS / name} is missing or unreadable")
    return image

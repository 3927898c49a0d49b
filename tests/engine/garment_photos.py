"""Test images: synthetic garment product photos and helpers (no clothing photo ships in
any package).

A top's silhouette (t-shirt with short, long or angled sleeves, sleeveless vest, open
cardigan) with knit texture, soft folds, an optional print, an edge shadow and sensor
noise, on a plain background of any colour; and the crops shops make of them (tight
crops touching the frame).
"""

from __future__ import annotations

import cv2
import numpy as np

WIDTH, HEIGHT = 768, 1024

# The outlines are tables of points, seven to a row (not one per line as ruff format would).
# fmt: off
# Outline of a flat-lay t-shirt on a 768 x 1024 canvas, clockwise from the left collar.
SHORT_SLEEVES = [
    (250, 170), (300, 150), (330, 185), (384, 200), (438, 185), (468, 150), (518, 170),
    (640, 240), (700, 400), (600, 440), (560, 380), (565, 860), (560, 880), (384, 890),
    (208, 880), (203, 860), (208, 380), (168, 440), (68, 400), (128, 240),
]
LONG_SLEEVES = [
    (250, 170), (300, 150), (330, 185), (384, 200), (438, 185), (468, 150), (518, 170),
    (640, 240), (740, 640), (660, 670), (560, 400), (565, 860), (560, 880), (384, 890),
    (208, 880), (203, 860), (208, 400), (108, 670), (28, 640), (128, 240),
]

# Short sleeves hanging steeply down, as on a ghost mannequin with its arms lowered.
ANGLED_SLEEVES = [
    (250, 170), (300, 150), (330, 185), (384, 200), (438, 185), (468, 150), (518, 170),
    (610, 215), (672, 430), (596, 452), (560, 330), (565, 860), (560, 880), (384, 890),
    (208, 880), (203, 860), (208, 330), (172, 452), (96, 430), (158, 215),
]
# A sleeveless knit vest with a V neck: the armholes curve in from narrow shoulders.
VEST = [
    (262, 165), (318, 150), (384, 330), (450, 150), (506, 165), (514, 230), (536, 330),
    (572, 410), (575, 860), (565, 885), (384, 895), (203, 885), (193, 860), (196, 410),
    (232, 330), (254, 230),
]
# fmt: on
OUTLINES = {"short": SHORT_SLEEVES, "long": LONG_SLEEVES, "angled": ANGLED_SLEEVES, "vest": VEST}


def tshirt(
    colour=(150, 75, 30),
    background=(246, 246, 246),
    print_kind="logo",
    long_sleeves=False,
    seed=0,
    shape=None,
    open_front=False,
) -> np.ndarray:
    """A BGR uint8 product photo.

    print_kind: None, "logo", "stripes", "rib" (deep knit ribbing) or "motif" (several separate
    dark motifs, as on a printed knit). shape: a key of OUTLINES (default short or long sleeves).
    open_front: an open cardigan, the background showing between its two front panels.
    """
    rng = np.random.default_rng(seed)
    outline = np.array(OUTLINES[shape or ("long" if long_sleeves else "short")], np.int32)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(mask, [outline], 255, cv2.LINE_AA)
    if open_front:
        cv2.fillPoly(
            mask, [np.int32([(376, 218), (392, 218), (414, 900), (354, 900)])], 0, cv2.LINE_AA
        )
    mask = (cv2.GaussianBlur(mask, (0, 0), 3) > 127).astype(np.uint8) * 255

    fabric = np.empty((HEIGHT, WIDTH, 3), np.float32)
    fabric[:] = colour
    fabric = _add_print(fabric, print_kind)
    fabric *= _fabric_shading(mask, rng)[..., None]

    photo = np.empty((HEIGHT, WIDTH, 3), np.float32)
    photo[:] = background
    shadow = np.roll(cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 12), (8, 6), (0, 1))
    photo *= (1 - 0.15 * shadow)[..., None]
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 0.8)[..., None]
    photo = photo * (1 - alpha) + fabric * alpha
    photo += rng.standard_normal(photo.shape).astype(np.float32) * 1.2
    return np.clip(photo, 0, 255).astype(np.uint8)


def _fabric_shading(mask: np.ndarray, rng) -> np.ndarray:
    knit = (np.sin(np.arange(WIDTH)[None, :] * 2 * np.pi / 3.0) * 0.5 + 0.5) * 0.04 - 0.02
    grain = rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32) * 0.025
    coarse = (
        cv2.resize(
            rng.standard_normal((14, 10)).astype(np.float32),
            (WIDTH, HEIGHT),
            interpolation=cv2.INTER_CUBIC,
        )
        * 0.06
    )
    edge = cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 5)
    return (1.0 + knit + grain + coarse) * (0.85 + 0.15 * np.clip(edge / 25, 0, 1))


def _add_print(fabric: np.ndarray, print_kind) -> np.ndarray:
    if print_kind == "logo":
        ink = np.zeros((HEIGHT, WIDTH), np.uint8)
        cv2.circle(ink, (384, 470), 85, 255, 16, cv2.LINE_AA)
        cv2.putText(ink, "OPEN", (314, 488), cv2.FONT_HERSHEY_DUPLEX, 1.6, 255, 4, cv2.LINE_AA)
        a = (ink.astype(np.float32) / 255 * 0.92)[..., None]
        return fabric * (1 - a) + np.float32(235) * a
    if print_kind == "rib":
        ribs = 0.78 + 0.22 * (np.sin(np.arange(WIDTH) * 2 * np.pi / 7.0) > 0)
        return fabric * ribs[None, :, None].astype(np.float32)
    if print_kind == "motif":
        ink = np.zeros((HEIGHT, WIDTH), np.uint8)
        for x in (262, 384, 506):
            for y in (450, 610, 770):
                cv2.fillPoly(
                    ink,
                    [np.int32([(x, y - 66), (x + 50, y), (x, y + 66), (x - 50, y)])],
                    255,
                    cv2.LINE_AA,
                )
        a = (ink.astype(np.float32) / 255)[..., None]
        return fabric * (1 - a) + np.float32([30, 40, 90]) * a
    if print_kind == "stripes":
        stripes = ((np.arange(HEIGHT) // 40) % 2 == 0)[:, None, None]
        return np.where(stripes, fabric, fabric * 0.35 + np.float32(240) * 0.65)
    return fabric


def on_busy_background(photo: np.ndarray, scenery: np.ndarray) -> np.ndarray:
    """The same garment pasted onto a photograph instead of a plain background."""
    scenery = cv2.resize(scenery, (photo.shape[1], photo.shape[0]))
    garment = cv2.absdiff(photo, np.full_like(photo, 246)).max(axis=2) > 25
    garment = (
        cv2.morphologyEx(garment.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8)) > 0
    )
    return np.where(garment[..., None], photo, scenery)


def tight_crop(photo: np.ndarray, margin: int = 0) -> np.ndarray:
    """The photo cropped to the garment's bounding box (plus margin): the garment touches
    the frame."""
    garment = cv2.absdiff(photo, np.full_like(photo, photo[2, 2])).max(axis=2) > 30
    garment = (
        cv2.morphologyEx(garment.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)) > 0
    )
    ys, xs = np.nonzero(garment)
    return photo[
        max(0, ys.min() - margin) : ys.max() + 1 + margin,
        max(0, xs.min() - margin) : xs.max() + 1 + margin,
    ].copy()


def cut_off(photo: np.ndarray) -> np.ndarray:
    """The garment cropped by the frame (the left sleeve and the hem are outside the picture)."""
    return photo[100:700, 100:700].copy()


def to_bgr(picture: np.ndarray) -> np.ndarray:
    """scikit-image data (RGB, grey or RGBA) as an OpenCV BGR uint8 image."""
    picture = np.asarray(picture)
    if picture.dtype != np.uint8:
        picture = (
            (picture * 255).astype(np.uint8) if picture.max() <= 1 else picture.astype(np.uint8)
        )
    if picture.ndim == 2:
        return cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(picture[..., :3], cv2.COLOR_RGB2BGR)

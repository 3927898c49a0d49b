"""Small image helpers shared by the engine's stages."""

from __future__ import annotations

import cv2
import numpy as np


def downscale_to(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most max_side; returns the image and the scale
    used (<= 1)."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def largest_component(mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Keep the largest 8-connected blob of a uint8 mask; also return its share of all
    foreground."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return np.zeros_like(mask), 0.0
    areas = stats[1:, cv2.CC_STAT_AREA]
    biggest = 1 + int(np.argmax(areas))
    return (labels == biggest).astype(np.uint8) * 255, float(areas.max() / areas.sum())


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed background regions of a uint8 mask (0/255)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    return filled


def fill_from_nearest(image: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Give every pixel outside the boolean mask inside the colour of the nearest inside pixel.

    Callers run it at reduced resolution: it is one distance transform and a gather.
    """
    if not inside.any():
        return image.copy()
    _, labels = cv2.distanceTransformWithLabels(
        (~inside).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    # Labels number the inside pixels in raster order, starting at 1.
    ys, xs = np.nonzero(inside)
    nearest = labels - 1
    return image[ys[nearest], xs[nearest]]


def ellipse_kernel(diameter: float) -> np.ndarray:
    size = max(1, int(round(diameter))) | 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 0.0


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else vector


def rotation(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s], [s, c]])

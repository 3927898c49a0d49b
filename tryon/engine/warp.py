"""Thin-plate-spline warping of the garment onto the person.

The spline is fitted on a handful of control points and evaluated on a coarse
grid only; ``cv2.remap`` then does the per-pixel work. That keeps a full warp
at a few milliseconds instead of evaluating the spline for every pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# pixels between spline evaluations; the map is smooth, so bilinear fill-in is exact enough
GRID_STEP = 8


def _radial_basis(squared_distance: np.ndarray) -> np.ndarray:
    # U(r) = r^2 log r^2, with U(0) = 0.
    return squared_distance * np.log(np.maximum(squared_distance, 1e-12))


@dataclass(frozen=True)
class ThinPlateSpline:
    """A 2-D thin-plate spline taking ``sources`` onto ``targets``."""

    sources: np.ndarray
    weights: np.ndarray  # (n + 3, 2): radial weights, then the affine part

    @classmethod
    def fit(
        cls, sources: np.ndarray, targets: np.ndarray, smoothing: float = 1e-3
    ) -> ThinPlateSpline:
        sources = np.asarray(sources, np.float64)
        targets = np.asarray(targets, np.float64)
        count = len(sources)
        squared = ((sources[:, None] - sources[None]) ** 2).sum(-1)
        affine = np.c_[np.ones(count), sources]
        system = np.zeros((count + 3, count + 3))
        system[:count, :count] = _radial_basis(squared) + smoothing * np.eye(count)
        system[:count, count:] = affine
        system[count:, :count] = affine.T
        rhs = np.zeros((count + 3, 2))
        rhs[:count] = targets
        return cls(sources, np.linalg.lstsq(system, rhs, rcond=None)[0])

    def __call__(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, np.float64)
        count = len(self.sources)
        squared = ((points[:, None] - self.sources[None]) ** 2).sum(-1)
        return (
            _radial_basis(squared) @ self.weights[:count]
            + self.weights[count]
            + points @ self.weights[count + 1 :]
        )


def warp_into_box(
    image: np.ndarray,
    alpha: np.ndarray,
    garment_points: np.ndarray,
    person_points: np.ndarray,
    box: tuple[int, int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Warp garment image and alpha so garment_points land on person_points, rendered only
    inside box.

    box is (x0, y0, x1, y1) in person-image pixels. Returns the warped image (same dtype) and alpha
    (float32 in [0, 1]), both of the box's size.
    """
    x0, y0, x1, y1 = box
    # Backward mapping: for each output pixel, where to sample in the garment photo.
    to_garment = ThinPlateSpline.fit(person_points, garment_points)
    grid_y, grid_x = np.mgrid[y0 : y1 + GRID_STEP : GRID_STEP, x0 : x1 + GRID_STEP : GRID_STEP]
    coarse = (
        to_garment(np.c_[grid_x.ravel(), grid_y.ravel()])
        .reshape(grid_x.shape + (2,))
        .astype(np.float32)
    )
    dense = _upsample_grid(coarse, x1 - x0, y1 - y0)
    map_x, map_y = np.ascontiguousarray(dense[..., 0]), np.ascontiguousarray(dense[..., 1])
    # Replicating the border lets colours continue a little past the garment's edge, which the
    # feathered alpha then blends without a dark fringe.
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    warped_alpha = cv2.remap(
        alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return warped, warped_alpha


def _upsample_grid(coarse: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear fill-in between grid nodes, exactly aligned (cv2.resize would shift by half
    a cell)."""
    node_x = np.broadcast_to(
        (np.arange(width, dtype=np.float32) / GRID_STEP)[None, :], (height, width)
    )
    node_y = np.broadcast_to(
        (np.arange(height, dtype=np.float32) / GRID_STEP)[:, None], (height, width)
    )
    return cv2.remap(
        coarse,
        np.ascontiguousarray(node_x),
        np.ascontiguousarray(node_y),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )

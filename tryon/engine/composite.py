"""Lay the warped garment over the person: occlusion, feathering and shading.

All work is confined to the box the garment can reach, and the shading (which
only carries low-frequency information) is computed at half resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from .garment import GarmentCutout
from .imaging import ellipse_kernel
from .person import LEFT_ELBOW, LEFT_WRIST, RIGHT_ELBOW, RIGHT_WRIST, PersonAnalysis
from .placement import Placement
from .warp import warp_into_box

SHADING_SCALE = 0.4
SHADE_MIN, SHADE_MAX = 0.72, 1.18


def warp_garment(garment_bgr: np.ndarray, cutout: GarmentCutout, placement: Placement,
                 size: tuple[int, int]) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """Return the box, the garment image warped into it, and its coverage (alpha, float32).

    Body and sleeves are warped separately, sleeves first and the body over them, so
    bending a sleeve never drags the body out of shape.
    """
    width, height = size
    margin = 0.35 * placement.shoulder_width
    box = placement.box(width, height, margin)
    x0, y0, x1, y1 = box
    # Never warp more garment pixels than the output can show.
    shrink = min(1.0, 1.25 * placement.garment_scale)
    garment_bgr, cutout, placement = _shrink_garment(garment_bgr, cutout, placement, shrink)
    alpha = _garment_alpha(cutout)
    source = _extend_colours_past_edge(garment_bgr, alpha)
    image = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    coverage = np.zeros((y1 - y0, x1 - x0), np.float32)
    overlap = 0.04 * cutout.keypoints.body_width
    parts = [(part, _sleeve_region(alpha, part, cutout, overlap)) for part in placement.sleeves]
    parts.append((placement.body, _body_region(alpha, placement.sleeves, cutout, overlap)))
    for part, part_alpha in parts:
        px0, py0, px1, py1 = _part_box(part, box, margin)
        if px1 <= px0 or py1 <= py0:
            continue
        warped, warped_alpha = warp_into_box(source, part_alpha, part.garment_points,
                                             part.person_points, (px0, py0, px1, py1))
        a = warped_alpha.astype(np.float32) * (1.0 / 255.0)
        window = (slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0))
        image[window] = cv2.blendLinear(warped, image[window], a, 1.0 - a)
        coverage[window] = np.maximum(coverage[window], a)
    return box, image, coverage


def _shrink_garment(garment_bgr, cutout, placement, factor):
    if factor >= 0.95:
        return garment_bgr, cutout, placement
    height, width = garment_bgr.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = cv2.resize(garment_bgr, size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(cutout.mask, size, interpolation=cv2.INTER_AREA)
    return small, cutout.scaled(small_mask, factor), placement.with_garment_scaled(factor)


def _part_box(part, box, margin):
    low = np.floor(part.person_points.min(axis=0) - margin).astype(int)
    high = np.ceil(part.person_points.max(axis=0) + margin).astype(int)
    x0, y0, x1, y1 = box
    return max(x0, low[0]), max(y0, low[1]), min(x1, high[0]), min(y1, high[1])


def _extend_colours_past_edge(garment_bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Replace background just outside the garment with the garment's own edge colours.

    Interpolation and feathering mix in pixels just outside the cut-out; if those are
    the white product background, every garment gets a pale outline.
    """
    # A normalized blur at quarter resolution reaches ~12 px past the edge, which is plenty.
    height, width = alpha.shape
    size = (max(1, width // 4), max(1, height // 4))
    inside = cv2.resize((alpha > 127).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    colours = cv2.resize(garment_bgr, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    weight = cv2.GaussianBlur(inside, (0, 0), 1.5)
    spread = cv2.GaussianBlur(colours * inside[..., None], (0, 0), 1.5)
    filled = (spread / np.maximum(weight, 1e-3)[..., None]).clip(0, 255).astype(np.uint8)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.where((alpha > 127)[..., None], garment_bgr, filled)


def _outer_side(shape, shoulder, armpit, centre_x, slack):
    """Pixels on the far side (away from the body centre) of the shoulder-armpit line."""
    height, width = shape
    normal = np.array([armpit[1] - shoulder[1], -(armpit[0] - shoulder[0])], float)
    normal /= max(np.linalg.norm(normal), 1e-6)
    if np.dot(normal, np.array([centre_x, shoulder[1]]) - shoulder) > 0:
        normal = -normal
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    return ((xs - shoulder[0]) * normal[0] + (ys - shoulder[1]) * normal[1]) > -slack


def _sleeve_region(alpha, part, cutout, overlap):
    shoulder, armpit = part.armhole
    outer = _outer_side(alpha.shape, shoulder, armpit, cutout.keypoints.centre_x, overlap)
    above_armpit = np.arange(alpha.shape[0])[:, None] < armpit[1] + overlap
    return np.where(outer & above_armpit, alpha, 0).astype(np.uint8)


def _body_region(alpha, sleeves, cutout, overlap):
    region = alpha.copy()
    for part in sleeves:
        shoulder, armpit = part.armhole
        outer = _outer_side(alpha.shape, shoulder, armpit, cutout.keypoints.centre_x, -overlap)
        above_armpit = np.arange(alpha.shape[0])[:, None] < armpit[1]
        region[outer & above_armpit] = 0
    return region


def _garment_alpha(cutout: GarmentCutout) -> np.ndarray:
    """Garment coverage with the neck opening cut out, so the wearer's neck shows through."""
    # The cut-out's outermost pixels mix fabric with background (and its shadow): drop them.
    alpha = cv2.erode(cutout.mask, ellipse_kernel(5))
    keys = cutout.keypoints
    half_opening = (keys.collar_right[0] - keys.collar_left[0]) / 2
    centre = (int(round(keys.neck[0])), int(round(keys.neck[1])))
    axes = (max(1, int(half_opening * 0.92)), max(1, int(half_opening * 0.72)))
    cv2.ellipse(alpha, centre, axes, 0, 0, 360, 0, -1)
    return alpha


def composite(person_bgr: np.ndarray, person: PersonAnalysis, placement: Placement,
              box: tuple[int, int, int, int], warped: np.ndarray, warped_alpha: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = box
    result = person_bgr.copy()
    if x1 <= x0 or y1 <= y0:
        return result
    body = person.mask_in_box(box)
    region = person_bgr[y0:y1, x0:x1]

    alpha = warped_alpha * (1.0 - _in_front_of_garment(person, placement, box, body))
    # The garment may stand a little off the body, but not float over the background.
    alpha = alpha * person.mask_in_box(box, grow=0.14 * placement.shoulder_width)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)
    _protect_face(alpha, person, box)

    shade = _shading(region, alpha, placement.shoulder_width)
    shaded = cv2.multiply(warped, cv2.merge([shade, shade, shade]), dtype=cv2.CV_8U)
    result[y0:y1, x0:x1] = cv2.blendLinear(shaded, region, alpha, 1.0 - alpha)
    return result


def _in_front_of_garment(person: PersonAnalysis, placement: Placement, box, body: np.ndarray) -> np.ndarray:
    """Head, neck and forearms crossing the torso stay in front of the new garment."""
    x0, y0 = box[0], box[1]
    keep = np.zeros(body.shape, np.float32)
    offset = np.array([x0, y0])

    def pt(p):
        q = np.asarray(p) - offset
        return int(round(q[0])), int(round(q[1]))

    fx, fy, fw, fh = person.face.box
    cv2.ellipse(keep, pt([fx + fw / 2, fy + fh * 0.55]), (int(fw * 0.62), int(fh * 0.8)), 0, 0, 360, 1.0, -1)
    chin = [fx + fw / 2, fy + fh]
    neck_base = placement.neck_base + placement.down * 0.04 * placement.shoulder_width
    cv2.line(keep, pt(chin), pt(neck_base), 1.0, max(1, int(fw * 0.42)))
    for elbow, wrist in ((LEFT_ELBOW, LEFT_WRIST), (RIGHT_ELBOW, RIGHT_WRIST)):
        if min(person.visibility[elbow], person.visibility[wrist]) > 0.6:
            cv2.line(keep, pt(person.points[elbow]), pt(person.points[wrist]), 1.0,
                     max(1, int(0.22 * placement.shoulder_width)))
    keep *= (body > 0.4)
    return cv2.GaussianBlur(keep, (0, 0), 2.0)


def _protect_face(alpha: np.ndarray, person: PersonAnalysis, box) -> None:
    """The face box is never painted over, whatever the warp did."""
    x0, y0 = box[0], box[1]
    fx, fy, fw, fh = person.face.box
    height, width = alpha.shape
    left, top = int(max(0, np.floor(fx - x0))), int(max(0, np.floor(fy - y0)))
    right, bottom = int(min(width, np.ceil(fx + fw - x0))), int(min(height, np.ceil(fy + fh - y0)))
    if right > left and bottom > top:
        alpha[top:bottom, left:right] = 0.0


def _shading(region: np.ndarray, alpha: np.ndarray, shoulder_width: float) -> np.ndarray:
    """Fold shading of the old clothing, as a multiplicative factor around 1 for the new garment.

    Only pixels that look like plain fabric of the old clothing contribute: pixels of another
    hue (patches, skin) and pixels near sharp edges (printed logos and text) are left out and
    filled in from their neighbours, so prints do not ghost through the new garment.
    """
    height, width = alpha.shape
    small_size = (max(1, int(width * SHADING_SCALE)), max(1, int(height * SHADING_SCALE)))
    small = cv2.resize(region, small_size, interpolation=cv2.INTER_AREA)
    small_alpha = cv2.resize(alpha, small_size, interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    lightness = lab[..., 0]
    covered = small_alpha > 0.5
    if np.count_nonzero(covered) < 100:
        return np.ones((height, width), np.float32)

    plain = _plain_fabric(lab, covered, shoulder_width * SHADING_SCALE)
    fine = _normalized_blur(lightness, plain, 1.0)
    coarse = _normalized_blur(lightness, plain, 0.15 * shoulder_width * SHADING_SCALE)
    ratio = np.clip(fine / (coarse + 1.0), SHADE_MIN, SHADE_MAX)
    confidence = np.clip(cv2.GaussianBlur(plain, (0, 0), 2.0) * 2.0, 0, 1)
    shade = (confidence * ratio + (1.0 - confidence)) ** 0.6
    # Overall exposure: a dim photo makes the new garment a little dimmer too.
    exposure = float(np.clip(np.median(lightness[covered]) / 170.0, 0.7, 1.1) ** 0.3)
    return cv2.resize(shade * exposure, (width, height), interpolation=cv2.INTER_LINEAR)


def _plain_fabric(lab: np.ndarray, covered: np.ndarray, shoulder_width: float) -> np.ndarray:
    chroma_ab = lab[..., 1:] - 128.0
    chroma = np.hypot(chroma_ab[..., 0], chroma_ab[..., 1])
    hue = np.arctan2(chroma_ab[..., 1], chroma_ab[..., 0])
    median_ab = np.median(chroma_ab[covered], axis=0)
    median_chroma = float(np.hypot(*median_ab))
    lightness = lab[..., 0]
    if median_chroma > 15:  # coloured clothing: same hue family, any brightness (folds are darker)
        hue_gap = np.abs((hue - np.arctan2(median_ab[1], median_ab[0]) + np.pi) % (2 * np.pi) - np.pi)
        plain = covered & (hue_gap < np.radians(25)) & (chroma > 0.35 * median_chroma)
    else:  # neutral clothing
        plain = covered & (chroma < 20)
    plain &= (lightness > 20) & (lightness < 245)
    # Prints have sharp edges, folds do not: drop everything near a strong edge.
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3)
    gradient = np.hypot(gx, gy)
    typical = float(np.median(gradient[covered])) + 1.0
    edges = (gradient > 3.0 * typical).astype(np.uint8)
    near_edge = cv2.dilate(edges, ellipse_kernel(0.06 * shoulder_width)) > 0
    plain &= ~near_edge
    return cv2.erode(plain.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)


def _normalized_blur(values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur that ignores pixels with zero weight (and fills them from their neighbours)."""
    return cv2.GaussianBlur(values * weights, (0, 0), sigma) / (cv2.GaussianBlur(weights, (0, 0), sigma) + 1e-3)

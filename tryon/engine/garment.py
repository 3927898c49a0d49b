"""Cut the garment out of its product photo, check it is usable, and find its keypoints.

Product photos show the garment on a plain, evenly lit background. The background
colour is estimated from the image border; a pixel belongs to the garment when its
colour differs from that background or when it carries fabric texture that the
smooth background lacks. The texture cue is what lets white and light-grey
garments on white backgrounds through: their colour barely differs, their knit does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import GarmentImageError
from .imaging import downscale_to, ellipse_kernel, fill_holes, largest_component
from .networks import ModelSet

SEGMENTATION_MAX_SIDE = 512
LIGHTNESS_WEIGHT = 0.5  # soft shadows change lightness, not colour: count them half
MAX_BORDER_SPREAD = 12.0  # 90th percentile colour distance of the border from its median
PLAIN_DISTANCE = 15.0  # border pixels closer than this to the median count as background
MIN_PLAIN_BORDER = 0.6
MIN_AREA, MAX_AREA = 0.05, 0.85
MIN_MAIN_COMPONENT = 0.85
MAX_BORDER_TOUCH = 0.05
MIN_SOLIDITY = 0.55
MIN_EDGE_CONTRAST = 3.0  # garment outline signal, in multiples of background noise
MAX_FACE_SCORE = 0.75  # a confident face means someone sent a person photo


@dataclass
class GarmentKeypoints:
    """Landmarks of a front-view top, in full-resolution garment pixels.

    "Left" and "right" are image sides: the image's left is the wearer's right.
    """

    body_left: float  # x of the body's side seams, measured near the hem
    body_right: float
    collar_left: np.ndarray  # where the shoulder seams meet the neckline
    collar_right: np.ndarray
    neck: np.ndarray
    shoulder_left: np.ndarray
    shoulder_right: np.ndarray
    armpit_left: np.ndarray
    armpit_right: np.ndarray
    hem: np.ndarray
    sleeve_end_left: np.ndarray | None
    sleeve_end_right: np.ndarray | None

    @property
    def body_width(self) -> float:
        return self.body_right - self.body_left

    @property
    def centre_x(self) -> float:
        return (self.body_left + self.body_right) / 2


    def scaled(self, factor: float) -> "GarmentKeypoints":
        def scale(value):
            return None if value is None else value * factor
        return GarmentKeypoints(**{name: scale(value) for name, value in vars(self).items()})


@dataclass
class GarmentCutout:
    mask: np.ndarray  # uint8 0/255 at full resolution
    keypoints: GarmentKeypoints
    info: dict = field(default_factory=dict)

    def scaled(self, mask: np.ndarray, factor: float) -> "GarmentCutout":
        """The cut-out for a copy of the photo resized by factor (mask already resized)."""
        return GarmentCutout(mask=mask, keypoints=self.keypoints.scaled(factor), info=self.info)


def cut_out_garment(bgr: np.ndarray, models: ModelSet) -> GarmentCutout:
    small, scale = downscale_to(bgr, SEGMENTATION_MAX_SIDE)
    _reject_person_photo(small, models)
    info: dict = {}
    small_mask = _segment(small, info)
    keypoints = _find_keypoints(small_mask, scale)
    height, width = bgr.shape[:2]
    smooth = cv2.GaussianBlur(small_mask, (0, 0), 0.7)
    mask = cv2.resize(smooth, (width, height), interpolation=cv2.INTER_LINEAR)
    mask = np.where(mask > 127, 255, 0).astype(np.uint8)
    return GarmentCutout(mask=mask, keypoints=keypoints, info=info)


def _reject_person_photo(small: np.ndarray, models: ModelSet) -> None:
    faces = models.face.run(cv2.cvtColor(small, cv2.COLOR_BGR2RGB), min_score=MAX_FACE_SCORE)
    if faces:
        raise GarmentImageError("the garment image shows a person's face; send a product photo of the "
                                "garment alone (flat lay or ghost mannequin) on a plain background")


def _segment(small: np.ndarray, info: dict) -> np.ndarray:
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    height, width = lab.shape[:2]
    border = max(4, int(0.03 * min(height, width)))
    ring = np.ones((height, width), bool)
    ring[border:-border, border:-border] = False

    background = np.median(lab[ring], axis=0)
    weights = np.array([LIGHTNESS_WEIGHT, 1.0, 1.0], np.float32)
    distance = np.linalg.norm((lab - background) * weights, axis=2)
    # A garment cut off by the frame puts some of itself on the border: judge the
    # background by the border pixels that look like background, and let the
    # border-touch check report the cut-off garment.
    border_distance = distance[ring]
    plain_share = float(np.mean(border_distance < PLAIN_DISTANCE))
    plain = border_distance[border_distance < PLAIN_DISTANCE]
    spread = float(np.percentile(plain, 90)) if plain.size else float("inf")
    info.update(border_plain_share=round(plain_share, 3), border_spread=round(spread, 2))
    if plain_share < MIN_PLAIN_BORDER or spread > MAX_BORDER_SPREAD:
        raise GarmentImageError("the garment photo's background is not plain; photograph the garment "
                                "against a plain, evenly lit background (white, grey or any single colour)")

    texture = _local_std(lab[..., 0], 5)
    noise = max(float(np.percentile(texture[ring], 90)), 0.8)
    colour_threshold = _colour_threshold(distance, spread)
    texture_threshold = 3.0 * noise
    foreground = (distance > colour_threshold) | (texture > texture_threshold)
    mask = foreground.astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, ellipse_kernel(0.02 * max(height, width)))
    mask, main_share = largest_component(mask)
    mask = fill_holes(mask)
    info.update(colour_threshold=round(colour_threshold, 2), texture_threshold=round(texture_threshold, 2))
    # How far the outline stands out from background noise, in multiples of that noise.
    signal = np.maximum(distance / max(spread, 1.5), texture / noise)
    _check_garment_shape(mask, main_share, signal, info)
    return mask


def _local_std(channel: np.ndarray, size: int) -> np.ndarray:
    mean = cv2.blur(channel, (size, size))
    mean_sq = cv2.blur(channel * channel, (size, size))
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0))


def _colour_threshold(distance: np.ndarray, spread: float) -> float:
    # Otsu needs 8-bit input: quarter-unit steps keep enough precision for faint garments.
    scaled = np.clip(distance * 4, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Otsu splits garment from background when both are present; the floor keeps
    # background noise out when the garment is faint (white on white).
    return float(max(otsu / 4, 3 * max(spread, 1.5)))


def _check_garment_shape(mask, main_share, signal, info):
    height, width = mask.shape
    area = float(np.count_nonzero(mask)) / mask.size
    info.update(area=round(area, 3), main_component=round(main_share, 3))
    if area < MIN_AREA:
        raise GarmentImageError("no garment found in the garment image; send a product photo of one top "
                                "filling a good part of the frame, on a plain background")
    if area > MAX_AREA:
        raise GarmentImageError("the garment fills the whole garment image or the background is not plain; "
                                "leave some plain background around the garment")
    if main_share < MIN_MAIN_COMPONENT:
        raise GarmentImageError("the garment image shows several separate objects; send a photo of one garment")

    edge = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    touch = float(np.count_nonzero(edge)) / edge.size
    info["border_touch"] = round(touch, 3)
    if touch > MAX_BORDER_TOUCH:
        raise GarmentImageError("the garment is cut off by the edge of the garment image; "
                                "send a photo showing the whole garment with some background around it")

    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    solidity = cv2.contourArea(outline) / max(cv2.contourArea(cv2.convexHull(outline)), 1.0)
    outline_points = outline[:, 0]
    contrast = float(np.median(_max_near(signal, 2)[outline_points[:, 1], outline_points[:, 0]]))
    info.update(solidity=round(solidity, 3), edge_contrast=round(contrast, 2))
    if solidity < MIN_SOLIDITY:
        raise GarmentImageError("the object in the garment image does not look like a garment; "
                                "send a front view of one top laid flat or on a ghost mannequin")
    if contrast < MIN_EDGE_CONTRAST:
        raise GarmentImageError("the garment cannot be told apart from its background; "
                                "use a background that differs from the garment, evenly lit")


def _max_near(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.dilate(image, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))


def _find_keypoints(mask: np.ndarray, scale: float) -> GarmentKeypoints:
    """Keypoints of the top from its silhouette (computed on the small mask, returned at full size)."""
    inside = mask > 0
    rows = np.flatnonzero(inside.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1])
    length = bottom - top
    row_has = inside.any(axis=1)
    leftmost = np.where(row_has, inside.argmax(axis=1), -1)
    rightmost = np.where(row_has, inside.shape[1] - 1 - inside[:, ::-1].argmax(axis=1), -1)

    # Side seams: sleeves never reach down to the hem band, so its edges are the body's.
    band = np.arange(int(top + 0.65 * length), int(top + 0.9 * length) + 1)
    band = band[row_has[band]]
    body_left, body_right = float(np.median(leftmost[band])), float(np.median(rightmost[band]))
    centre = (body_left + body_right) / 2

    column_has = inside.any(axis=0)
    column_top = np.where(column_has, inside.argmax(axis=0), inside.shape[0]).astype(float)

    def highest_point(x0: float, x1: float) -> np.ndarray:
        xs = np.arange(int(x0), max(int(x1), int(x0) + 1))
        x = xs[int(np.argmin(column_top[xs]))]
        return np.array([x, column_top[x]], float)

    collar_left, collar_right = highest_point(body_left, centre), highest_point(centre, body_right)
    neck = (collar_left + collar_right) / 2
    shoulder_left = np.array([body_left, column_top[int(body_left)]], float)
    shoulder_right = np.array([body_right, column_top[int(body_right)]], float)
    armpit_left, armpit_right = _armpits(mask, top, length, body_left, body_right)
    sleeve_end_left = _sleeve_end(inside, shoulder_left, armpit_left, outward=-1)
    sleeve_end_right = _sleeve_end(inside, shoulder_right, armpit_right, outward=+1)

    def full(p):
        return None if p is None else np.asarray(p, float) / scale

    return GarmentKeypoints(
        body_left=body_left / scale, body_right=body_right / scale,
        collar_left=full(collar_left), collar_right=full(collar_right), neck=full(neck),
        shoulder_left=full(shoulder_left), shoulder_right=full(shoulder_right),
        armpit_left=full(armpit_left), armpit_right=full(armpit_right),
        hem=full([centre, bottom]),
        sleeve_end_left=full(sleeve_end_left), sleeve_end_right=full(sleeve_end_right),
    )


def _armpits(mask, top, length, body_left, body_right):
    """Armpits are the deepest notches of the outline between sleeve and body."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    width = body_right - body_left
    centre = (body_left + body_right) / 2
    best = {"left": (0.0, np.array([body_left, top + 0.3 * length])),
            "right": (0.0, np.array([body_right, top + 0.3 * length]))}
    hull = cv2.convexHull(outline, returnPoints=False)
    defects = cv2.convexityDefects(outline, hull) if len(hull) > 3 else None
    for _, _, far, depth in ([] if defects is None else defects[:, 0]):
        point = outline[far, 0].astype(float)
        if not top + 0.08 * length <= point[1] <= top + 0.6 * length:
            continue  # the neckline and the hem make notches too
        side = "left" if point[0] < centre else "right"
        seam = body_left if side == "left" else body_right
        if abs(point[0] - seam) <= 0.15 * width and depth > best[side][0]:
            best[side] = (float(depth), point)
    return best["left"][1], best["right"][1]


def _sleeve_end(inside, shoulder, armpit, outward):
    """Centre of the far end of a sleeve: sleeve pixels beyond the body seam and above the armpit."""
    height, width = inside.shape
    xs = np.arange(width)[None, :]
    ys = np.arange(height)[:, None]
    beyond_seam = (xs < shoulder[0]) if outward < 0 else (xs > shoulder[0])
    sleeve = inside & beyond_seam & (ys < armpit[1] + 2)
    yy, xx = np.nonzero(sleeve)
    if len(xx) < 30:
        return None
    root = (shoulder + armpit) / 2
    pixels = np.c_[xx, yy].astype(float)
    axis = pixels.mean(axis=0) - root
    axis /= max(np.linalg.norm(axis), 1e-6)
    reach = (pixels - root) @ axis
    return pixels[reach >= np.percentile(reach, 97)].mean(axis=0)

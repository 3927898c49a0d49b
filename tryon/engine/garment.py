"""Cut the garment out of its product photo, check it is usable, and find its keypoints.

Product photos show the garment on a plain, evenly lit background. The background
colour is estimated from the image border; a pixel belongs to the garment when its
colour differs from that background or when it carries fabric texture that the
smooth background lacks. The texture cue is what lets white and light-grey
garments on white backgrounds through: their colour barely differs, their knit does.

Shops crop tightly, so the garment may touch the frame. The background is therefore
judged on the frame segments that look like background, and a garment touching the
frame is accepted when it only touches it with its extremes (a sleeve tip, a shoulder)
or lies on it with a straight end (a hem, a cuff); one that runs on past the frame at
an angle, loses its collar to the top edge or one side to a side edge is cut off.
Print motifs and knit patterns that come out as separate blobs inside the garment's
outline are part of it; so are the two panels of an open cardigan.
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
MAX_BORDER_SPREAD = 12.0  # 90th percentile colour distance of the background frame from its colour
FRAME_SEGMENTS = 8  # each side of the frame is judged in this many pieces
MIN_PLAIN_BORDER = 0.5  # share of frame segments that must be plain background
MIN_AREA, MAX_AREA = 0.05, 0.85
MIN_MAIN_COMPONENT = 0.85
SHADOW_DISTANCE = 15.0  # the garment's soft shadow on the background stays closer than this to it
# share of a frame piece that may differ from the background without being garment
MAX_SCENERY = 0.1
JOIN_GAP = 0.03  # blobs this close (share of the longer side) to the garment are part of it
# Frame contacts: a run along an edge up to this share of it is a tangent touch; a longer
# one is a straight end lying on the frame only when the outline leaves the frame nearly at
# right angles (the garment does not go on widening past it).
MAX_TANGENT_TOUCH = 0.1
MAX_CROSSING_ANGLE_DEG = 40.0
MAX_FRAME_TOUCH = 0.35  # share of the whole frame the garment may lie on
MAX_SIDE_ASYMMETRY = 0.08  # left and right reach from the body's centre, share of the width
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

    def scaled(self, factor: float) -> GarmentKeypoints:
        def scale(value):
            return None if value is None else value * factor

        return GarmentKeypoints(**{name: scale(value) for name, value in vars(self).items()})


@dataclass
class GarmentCutout:
    mask: np.ndarray  # uint8 0/255 at full resolution
    keypoints: GarmentKeypoints
    info: dict = field(default_factory=dict)

    def scaled(self, mask: np.ndarray, factor: float) -> GarmentCutout:
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
        raise GarmentImageError(
            "the garment image shows a person's face; send a product photo of the "
            "garment alone (flat lay or ghost mannequin) on a plain background"
        )


def _segment(small: np.ndarray, info: dict) -> np.ndarray:
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    height, width = lab.shape[:2]
    border = max(4, int(0.03 * min(height, width)))
    ring = np.ones((height, width), bool)
    ring[border:-border, border:-border] = False

    weights = np.array([LIGHTNESS_WEIGHT, 1.0, 1.0], np.float32)
    background, spread, tolerance, plain_segments = _frame_background(lab, border, weights)
    distance = np.linalg.norm((lab - background) * weights, axis=2)
    plain_share = float(np.mean([plain for plain, _ in plain_segments]))
    info.update(border_plain_share=round(plain_share, 3), border_spread=round(spread, 2))
    if plain_share < MIN_PLAIN_BORDER or spread > MAX_BORDER_SPREAD:
        raise _busy_background()

    texture = _local_std(lab[..., 0], 5)
    noise = max(float(np.percentile(texture[ring], 90)), 0.8)
    colour_threshold = _colour_threshold(distance, spread)
    texture_threshold = 3.0 * noise
    foreground = (distance > colour_threshold) | (texture > texture_threshold)
    mask = foreground.astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, ellipse_kernel(0.02 * max(height, width)))
    mask, main_share = _garment_blobs(mask, JOIN_GAP * max(height, width))
    mask = fill_holes(mask)
    info.update(
        colour_threshold=round(colour_threshold, 2), texture_threshold=round(texture_threshold, 2)
    )
    # What is not plain on the frame must be garment lying on it, not scenery.
    garment_near = cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0
    for plain, strip in plain_segments:
        scenery = (distance[strip] > max(tolerance, SHADOW_DISTANCE)) & ~garment_near[strip]
        if not plain and np.mean(scenery) > MAX_SCENERY:
            raise _busy_background()
    # How far the outline stands out from background noise, in multiples of that noise.
    signal = np.maximum(distance / max(spread, 1.5), texture / noise)
    _check_garment_shape(mask, main_share, signal, info)
    return mask


def _busy_background() -> GarmentImageError:
    return GarmentImageError(
        "the garment photo's background is not plain; photograph the garment "
        "against a plain, evenly lit background (white, grey or any single colour)"
    )


def _frame_background(lab: np.ndarray, border: int, weights: np.ndarray):
    """The background colour and its noise, judged on the frame piece by piece.

    The frame (a ring border pixels wide) is cut into FRAME_SEGMENTS pieces per side. The
    background colour is the median colour of the calmer half of the pieces, so a garment
    lying on part of the frame does not tint it; its spread is the 90th percentile colour
    distance within those calm pieces. Returns the colour, the spread, the distance from
    the colour that still counts as background and, per piece, whether it is plain and its
    slices (to check later that what is not plain there is garment).
    """
    strips, pixels = _frame_pieces(lab, border)
    medians = np.median(pixels, axis=1)
    own_spread = np.percentile(
        np.linalg.norm((pixels - medians[:, None]) * weights, axis=2), 90, axis=1
    )
    calm = np.argsort(own_spread)[: len(strips) // 2]
    background = np.median(medians[calm], axis=0)
    distance = np.linalg.norm((pixels - background) * weights, axis=2)
    spread = float(np.percentile(distance[calm], 90))
    tolerance = max(2.0 * spread, 6.0)
    far = np.percentile(distance, 90, axis=1)
    return (
        background,
        spread,
        tolerance,
        [(bool(f <= tolerance), strip) for f, strip in zip(far, strips, strict=True)],
    )


def _frame_pieces(lab: np.ndarray, border: int):
    """The frame's pieces: their slices into lab, and their pixels as one (pieces, n, 3) array.

    All pieces get the same number of pixels (the sides' lengths are cut to a multiple of
    FRAME_SEGMENTS, and the longer sides' pieces are sampled down), so they can be judged
    together.
    """
    height, width = lab.shape[:2]
    strips = []
    for side, length in (("top", width), ("bottom", width), ("left", height), ("right", height)):
        piece = length // FRAME_SEGMENTS
        for k in range(FRAME_SEGMENTS):
            along = slice(k * piece, (k + 1) * piece)
            strips.append(
                {
                    "top": (slice(0, border), along),
                    "bottom": (slice(height - border, height), along),
                    "left": (along, slice(0, border)),
                    "right": (along, slice(width - border, width)),
                }[side]
            )
    count = border * (min(height, width) // FRAME_SEGMENTS)
    pixels = np.stack([_sample(lab[strip].reshape(-1, 3), count) for strip in strips])
    return strips, pixels


def _sample(pixels: np.ndarray, count: int) -> np.ndarray:
    return pixels[np.linspace(0, len(pixels) - 1, count).astype(int)]


def _garment_blobs(mask: np.ndarray, gap: float) -> tuple[np.ndarray, float]:
    """The garment's blob and its share of all foreground, with nearby blobs joined to it.

    A print motif or a knit pattern on a garment close to the background colour, or the
    two panels of an open cardigan, come out of the threshold as several blobs; those that
    lie within the main blob's convex hull or within gap pixels of it are part of it.
    """
    main, share = largest_component(mask)
    if share >= 1.0 or not main.any():
        return main, share
    near = cv2.dilate(main, ellipse_kernel(2 * gap))
    contours, _ = cv2.findContours(main, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.fillPoly(near, [cv2.convexHull(max(contours, key=cv2.contourArea))], 255)
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    touching = np.unique(labels[(near > 0) & (mask > 0)])
    joined = np.isin(labels, touching[touching > 0])
    garment = cv2.morphologyEx(
        joined.astype(np.uint8) * 255, cv2.MORPH_CLOSE, ellipse_kernel(2 * gap)
    )
    return garment, float(np.count_nonzero(joined) / max(np.count_nonzero(mask), 1))


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
        raise GarmentImageError(
            "no garment found in the garment image; send a product photo of one top "
            "filling a good part of the frame, on a plain background"
        )
    if area > MAX_AREA:
        raise GarmentImageError(
            "the garment fills the whole garment image or the background is not plain; "
            "leave some plain background around the garment"
        )
    if main_share < MIN_MAIN_COMPONENT:
        raise GarmentImageError(
            "the garment image shows several separate objects; send a photo of one garment"
        )

    edge = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    touch = float(np.count_nonzero(edge)) / edge.size
    info["border_touch"] = round(touch, 3)
    if touch > MAX_FRAME_TOUCH or _cut_by_the_frame(mask):
        raise GarmentImageError(
            "the garment is cut off by the edge of the garment image; "
            "send a photo showing the whole garment with some background around it"
        )

    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    solidity = cv2.contourArea(outline) / max(cv2.contourArea(cv2.convexHull(outline)), 1.0)
    outline_points = outline[:, 0]
    contrast = float(np.median(_max_near(signal, 2)[outline_points[:, 1], outline_points[:, 0]]))
    info.update(solidity=round(solidity, 3), edge_contrast=round(contrast, 2))
    if solidity < MIN_SOLIDITY:
        raise GarmentImageError(
            "the object in the garment image does not look like a garment; "
            "send a front view of one top laid flat or on a ghost mannequin"
        )
    if contrast < MIN_EDGE_CONTRAST:
        raise GarmentImageError(
            "the garment cannot be told apart from its background; "
            "use a background that differs from the garment, evenly lit"
        )


def _cut_by_the_frame(mask: np.ndarray) -> bool:
    """Whether the frame cuts through the garment rather than just touching it (a tight crop).

    Every run of garment pixels along an edge is looked at. A short run is a tangent touch
    of an extreme (sleeve tip, shoulder, hem corner). A longer run on the bottom edge is the
    hem (or hanging cuffs) lying on the frame; a garment cut straight across its body there
    cannot be told from it and is dressed as a shorter top. On a side edge a longer run is
    a cuff lying on the frame only if, a little inside the frame, the sleeve is not much
    wider than the run: an outline that goes on widening towards the frame (a sleeve cut
    across at an angle) runs on past it; and the garment must then reach as far on the
    other side of its centre (a cut-off side makes it lopsided). On the top edge the collar
    tips and shoulders may lie on the frame, but the neck opening between them must not.
    """
    height, width = mask.shape
    depth = max(3, int(round(0.03 * min(height, width))))
    slack = depth * np.tan(np.radians(MAX_CROSSING_ANGLE_DEG))
    edges = {
        "top": (mask[0], mask[depth]),
        "bottom": (mask[-1], mask[-1 - depth]),
        "left": (mask[:, 0], mask[:, depth]),
        "right": (mask[:, -1], mask[:, -1 - depth]),
    }
    columns = np.flatnonzero((mask > 0).any(axis=0))
    centre = (columns[0] + columns[-1]) / 2
    lying_on_a_side = False
    for side, (on_edge, inside) in edges.items():
        for start, end in _runs(on_edge > 0):
            if end - start <= MAX_TANGENT_TOUCH * len(on_edge):
                continue
            if side == "top":
                if start <= centre <= end:
                    return True  # the neck opening is cut away
                continue
            if side == "bottom":
                continue  # a hem lying on the frame, straight or curved
            inner = [(a, b) for a, b in _runs(inside > 0) if a < end and b > start]
            if (
                not inner
                or min(a for a, _ in inner) < start - slack
                or max(b for _, b in inner) > end + slack
            ):
                return True
            lying_on_a_side |= side in ("left", "right")
    return lying_on_a_side and _lopsided(mask)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-D boolean array, end exclusive."""
    padded = np.r_[False, flags, False].astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[::2], changes[1::2], strict=True))


def _lopsided(mask: np.ndarray) -> bool:
    inside = mask > 0
    rows = np.flatnonzero(inside.any(axis=1))
    band = rows[int(0.65 * len(rows)) : int(0.9 * len(rows)) + 1]
    left = np.median([np.argmax(inside[r]) for r in band])
    right = np.median([len(inside[r]) - 1 - np.argmax(inside[r][::-1]) for r in band])
    centre = (left + right) / 2
    columns = np.flatnonzero(inside.any(axis=0))
    reach_left, reach_right = centre - columns[0], columns[-1] - centre
    return abs(reach_left - reach_right) > MAX_SIDE_ASYMMETRY * (columns[-1] - columns[0])


def _max_near(image: np.ndarray, radius: int) -> np.ndarray:
    return cv2.dilate(image, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))


def _find_keypoints(mask: np.ndarray, scale: float) -> GarmentKeypoints:
    """Keypoints of the top from its silhouette (computed on the small mask, returned at
    full size)."""
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
    armpit_left, armpit_right = _armpits(mask, top, length, body_left, body_right)
    shoulder_left = _shoulder(column_top, body_left, collar_left[0], armpit_left[1])
    shoulder_right = _shoulder(column_top, body_right, collar_right[0], armpit_right[1])
    lowest_sleeve = top + 0.9 * length
    sleeve_end_left = _sleeve_end(inside, shoulder_left, armpit_left, body_left, -1, lowest_sleeve)
    sleeve_end_right = _sleeve_end(
        inside, shoulder_right, armpit_right, body_right, +1, lowest_sleeve
    )

    def full(p):
        return None if p is None else np.asarray(p, float) / scale

    return GarmentKeypoints(
        body_left=body_left / scale,
        body_right=body_right / scale,
        collar_left=full(collar_left),
        collar_right=full(collar_right),
        neck=full(neck),
        shoulder_left=full(shoulder_left),
        shoulder_right=full(shoulder_right),
        armpit_left=full(armpit_left),
        armpit_right=full(armpit_right),
        hem=full([centre, bottom]),
        sleeve_end_left=full(sleeve_end_left),
        sleeve_end_right=full(sleeve_end_right),
    )


def _shoulder(
    column_top: np.ndarray, seam_x: float, collar_x: float, armpit_y: float
) -> np.ndarray:
    """The outer end of the shoulder line: the top of the outline at the side seam's column.

    A sleeveless top's armhole curves in from narrow shoulders: there the seam's column only
    starts at the armhole's foot, so the outermost column between seam and collar whose top
    is still well above the armpit is taken instead (the strap's outer corner).
    """
    step = 1 if collar_x > seam_x else -1
    columns = np.arange(int(seam_x), int(collar_x), step)
    high = columns[column_top[columns] < armpit_y - 0.25 * (armpit_y - column_top[int(collar_x)])]
    x = int(high[0]) if len(high) else int(seam_x)
    return np.array([x, column_top[x]], float)


def _armpits(mask, top, length, body_left, body_right):
    """Armpits are the deepest notches of the outline between sleeve and body."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    width = body_right - body_left
    centre = (body_left + body_right) / 2
    best = {
        "left": (0.0, np.array([body_left, top + 0.3 * length])),
        "right": (0.0, np.array([body_right, top + 0.3 * length])),
    }
    hull = cv2.convexHull(outline, returnPoints=False)
    defects = cv2.convexityDefects(outline, hull) if len(hull) > 3 else None
    for _, _, far, depth in [] if defects is None else defects[:, 0]:
        point = outline[far, 0].astype(float)
        if not top + 0.08 * length <= point[1] <= top + 0.6 * length:
            continue  # the neckline and the hem make notches too
        side = "left" if point[0] < centre else "right"
        seam = body_left if side == "left" else body_right
        if abs(point[0] - seam) <= 0.15 * width and depth > best[side][0]:
            best[side] = (float(depth), point)
    return best["left"][1], best["right"][1]


def _sleeve_end(inside, shoulder, armpit, seam_x, outward, lowest_y):
    """Centre of the far end of a sleeve: its pixels beyond the body seam.

    Above the armpit everything beyond the seam is sleeve; below it only what stands clear
    of the seam (a long sleeve hanging beside the body), down to lowest_y (a flared hem
    can stand past the seam too).
    """
    height, width = inside.shape
    xs = np.arange(width)[None, :]
    ys = np.arange(height)[:, None]
    clearance = 0.03 * width
    beyond_seam = (xs < seam_x) if outward < 0 else (xs > seam_x)
    clear_of_seam = (xs < seam_x - clearance) if outward < 0 else (xs > seam_x + clearance)
    sleeve = inside & beyond_seam & ((ys < armpit[1] + 2) | (clear_of_seam & (ys < lowest_y)))
    yy, xx = np.nonzero(sleeve)
    if len(xx) < 30:
        return None
    root = (shoulder + armpit) / 2
    pixels = np.c_[xx, yy].astype(float)
    axis = pixels.mean(axis=0) - root
    axis /= max(np.linalg.norm(axis), 1e-6)
    reach = (pixels - root) @ axis
    return pixels[reach >= np.percentile(reach, 97)].mean(axis=0)

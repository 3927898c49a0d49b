"""Lay the warped garment over the person: occlusion, feathering, shading, old clothing.

All work is confined to the box the garment can reach and done at the engine's
working resolution; the result is a layer (colours and alpha) that is then pasted
onto the full-size photo. The shading and the old clothing's cover and replacement
(old_clothing.py) only need coarse information and run at about 70-80 pixels per
shoulder width. Sleeves are drawn as the tube the placement lays along each arm,
textured by the warped sleeve of the photo, so they always come along whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .garment import GarmentCutout
from .imaging import ellipse_kernel, fill_from_nearest
from .old_clothing import OldClothing, skin_like
from .person import LEFT_ELBOW, LEFT_WRIST, RIGHT_ELBOW, RIGHT_WRIST, PersonAnalysis
from .placement import Placement
from .warp import warp_into_box

RIM_PER_BODY_WIDTH = 0.02  # width of the cut-out's rim whose colours are not trusted
# Background in the garment photo: colour within this many times the frame's noise (at least the
# floor) of the frame's colour, and at most this much darker (soft shadows in the notches).
BACKGROUND_NOISE_FLOOR = 8.0
MAX_SHADOW_DARKENING = 60.0
FEATHER_PER_SHOULDER = 0.006  # blur of the garment's outline, in shoulder widths
# Shading is measured where the shoulders are this many pixels apart: folds are broad,
# and at that size prints, seams and patches are already blurred away.
SHADING_SHOULDER_PIXELS = 80
FOLD_SIGMA, LIGHT_SIGMA = 0.045, 0.35  # in shoulder widths: fold detail, overall illumination
SHADE_MIN, SHADE_MAX = 0.84, 1.1  # folds darken more than they brighten
PASTE_BAND_ROWS = 256  # rows of a big photo resampled at a time
FOREARM_CONFIDENT = 0.6  # elbow and wrist visibility above which a forearm is simply in front
FOREARM_MIN_VISIBILITY = 0.05  # below this the elbow and wrist landmarks are not even a hint
SKIN_CHROMA_TOLERANCE = 9.0  # Lab a/b distance from the face's own skin colour


@dataclass
class WarpedGarment:
    """The garment warped onto the person, over a box (x0, y0, x1, y1) of the working image."""

    box: tuple[int, int, int, int]
    image: np.ndarray  # uint8 BGR, the box's size
    alpha: np.ndarray  # float32 in [0, 1]: the garment's coverage
    sleeves: np.ndarray  # float32 in [0, 1]: the part of it that is sleeve


def warp_garment(
    garment_bgr: np.ndarray, cutout: GarmentCutout, placement: Placement, size: tuple[int, int]
) -> WarpedGarment:
    """Warp the garment's body and sleeves onto the person, each on its own.

    Warping them separately means bending a sleeve never drags the body out of shape. The
    sleeves are drawn over the body: an arm, and so its sleeve, is in front of the torso.
    """
    width, height = size
    margin = 0.35 * placement.shoulder_width
    box = placement.box(width, height, margin)
    x0, y0, x1, y1 = box
    # Never warp more garment pixels than the output can show.
    shrink = min(1.0, 1.25 * placement.garment_scale)
    garment_bgr, cutout, placement = _shrink_garment(garment_bgr, cutout, placement, shrink)
    alpha = _garment_alpha(cutout)
    noise = float(cutout.info.get("border_spread", 2.0))
    source = _extend_colours_past_edge(
        garment_bgr, alpha, RIM_PER_BODY_WIDTH * cutout.keypoints.body_width, noise
    )
    image = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    coverage = np.zeros((y1 - y0, x1 - x0), np.float32)
    sleeves = np.zeros_like(coverage)
    overlap = 0.04 * cutout.keypoints.body_width
    parts = [(placement.body, _body_region(alpha, placement.sleeves, cutout, overlap))]
    parts += [(part, _sleeve_region(alpha, part, cutout, overlap)) for part in placement.sleeves]
    for part, part_alpha in parts:
        px0, py0, px1, py1 = _part_box(part, box, margin)
        if px1 <= px0 or py1 <= py0:
            continue
        warped, warped_alpha = warp_into_box(
            source, part_alpha, part.garment_points, part.person_points, (px0, py0, px1, py1)
        )
        a = warped_alpha.astype(np.float32) * (1.0 / 255.0)
        if part.arm is not None:
            warped, a = _fill_sleeve_tube(warped, a, part, (px0, py0))
        window = (slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0))
        image[window] = cv2.blendLinear(warped, image[window], a, 1.0 - a)
        coverage[window] = np.maximum(coverage[window], a)
        if part.arm is not None:
            sleeves[window] = np.maximum(sleeves[window], a)
    return WarpedGarment(box, image, coverage, sleeves)


def _fill_sleeve_tube(
    warped: np.ndarray, alpha: np.ndarray, part, origin
) -> tuple[np.ndarray, np.ndarray]:
    """The sleeve as the tube laid along the arm, textured by the warped sleeve.

    A product photo's sleeve rarely has the outline the placement assumes (folded, angled,
    cut short by the cut-out): warped alone it covers part of the arm and leaves blotches
    beside it. The tube is what shows; pixels of it the warp did not reach take the colour
    of the nearest warped sleeve pixel, and warped pixels outside it are dropped.
    """
    outline = np.round((part.sleeve_outline() - np.asarray(origin, float)) * 4).astype(np.int32)
    tube = np.zeros(alpha.shape, np.uint8)
    cv2.fillPoly(tube, [outline], 255, cv2.LINE_AA, shift=2)
    tube = tube.astype(np.float32) * (1.0 / 255.0)
    solid = alpha > 0.9
    if np.count_nonzero(solid) < 16:
        return warped, alpha * tube  # nothing of the sleeve to take colours from
    missing = (tube > 0) & ~solid
    if not missing.any():
        return warped, tube
    # Nearest colours at quarter resolution: they only fill the tube's margins.
    height, width = alpha.shape
    quarter = (max(1, width // 4), max(1, height // 4))
    small_solid = cv2.resize(solid.astype(np.uint8), quarter, interpolation=cv2.INTER_NEAREST) > 0
    if not small_solid.any():
        return warped, alpha * tube
    nearest = fill_from_nearest(
        cv2.resize(warped, quarter, interpolation=cv2.INTER_AREA), small_solid
    )
    filled = cv2.resize(nearest, (width, height), interpolation=cv2.INTER_LINEAR)
    cv2.copyTo(warped, solid.astype(np.uint8), filled)
    return filled, tube


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


def _extend_colours_past_edge(
    garment_bgr: np.ndarray, alpha: np.ndarray, rim_width: float, noise: float
) -> np.ndarray:
    """Replace the cut-out's rim and the background beyond it with the garment's own colours.

    The outermost pixels of a cut-out mix fabric with the product background, the mask
    bridges narrow notches such as the armpits, and interpolation and feathering mix in
    pixels just outside it; left alone these draw pale outlines and wedges on every
    garment. Rim pixels and background-coloured pixels near the outline take the colour
    of the nearest trusted fabric pixel instead (found at quarter resolution).
    """
    height, width = alpha.shape
    # The frame counts as outside: in a tight crop the garment touches it, and the pixels the
    # cut-out puts there mix fabric with background just like any other edge.
    framed = cv2.copyMakeBorder(
        (alpha > 127).astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0
    )
    depth = cv2.distanceTransform(framed, cv2.DIST_L2, 3)[1:-1, 1:-1]
    core = (depth > rim_width).astype(np.uint8)
    # Colours are judged at quarter resolution, which is plenty and 16 times cheaper.
    size = (max(1, width // 4), max(1, height // 4))
    colours = cv2.resize(garment_bgr, size, interpolation=cv2.INTER_AREA)
    # Deep enough for the armpit notches the mask bridges, shallow enough to keep a central print.
    near_outline = cv2.resize(depth, size, interpolation=cv2.INTER_AREA) < 12 * rim_width
    background = (near_outline & _looks_like_background(colours, noise)).astype(np.uint8)
    # Fabric pixels bordering that background are mixed with it too: drop them as well.
    background = cv2.dilate(background, np.ones((3, 3), np.uint8))
    core[cv2.resize(background, (width, height), interpolation=cv2.INTER_NEAREST) > 0] = 0
    core = cv2.morphologyEx(core, cv2.MORPH_OPEN, ellipse_kernel(rim_width))
    small_core = cv2.resize(core.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.99
    filled = cv2.resize(
        fill_from_nearest(colours, small_core), (width, height), interpolation=cv2.INTER_LINEAR
    )
    cv2.copyTo(garment_bgr, core, filled)
    return filled


def _looks_like_background(photo: np.ndarray, noise: float) -> np.ndarray:
    """Pixels of about the colour of the photo's frame (plain background), even in soft shadow.

    Shadows darken the background without changing its colour, so lightness may drop a lot
    while the colour (Lab a, b) must stay within the frame's own noise: a cream or pastel
    garment on white differs in colour only a little, but more than the frame's noise does.
    """
    lab = cv2.cvtColor(photo, cv2.COLOR_BGR2LAB).astype(np.float32)
    frame = np.median(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]), axis=0)
    tolerance = max(BACKGROUND_NOISE_FLOOR, 3.0 * noise)
    colour_gap = np.hypot(lab[..., 1] - frame[1], lab[..., 2] - frame[2])
    darker = frame[0] - lab[..., 0]
    return (colour_gap < tolerance) & (darker > -tolerance) & (darker < MAX_SHADOW_DARKENING)


def _outer_side(shape, shoulder, armpit, centre_x, slack) -> np.ndarray:
    """Pixels on the far side (away from the body centre) of the shoulder-armpit line, moved
    slack pixels towards the centre: a 0/255 mask, drawn as a polygon (cheaper than per-pixel
    arithmetic on the whole photo)."""
    height, width = shape
    normal = np.array([armpit[1] - shoulder[1], -(armpit[0] - shoulder[0])], float)
    normal /= max(np.linalg.norm(normal), 1e-6)
    if np.dot(normal, np.array([centre_x, shoulder[1]]) - shoulder) > 0:
        normal = -normal
    along = np.array([-normal[1], normal[0]])
    far = 4.0 * (height + width)
    start = np.asarray(shoulder, float) - normal * slack
    corners = [
        start - along * far,
        start + along * far,
        start + along * far + normal * far,
        start - along * far + normal * far,
    ]
    side = np.zeros(shape, np.uint8)
    cv2.fillPoly(
        side, [np.round(np.array(corners) * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4
    )
    return side


def _sleeve_region(alpha, part, cutout, overlap):
    """The sleeve's pixels: beyond the armhole line, and either above the armpit or clear of
    the body's side seam (a long sleeve hangs on below the armpit beside the body)."""
    shoulder, armpit = part.armhole
    keys = cutout.keypoints
    allowed = np.zeros(alpha.shape, np.uint8)
    allowed[: max(0, int(np.ceil(armpit[1] + overlap)))] = 255
    if armpit[0] < keys.centre_x:
        allowed[:, : max(0, int(np.ceil(keys.body_left - overlap)))] = 255
    else:
        allowed[:, max(0, int(np.floor(keys.body_right + overlap)) + 1) :] = 255
    mask = cv2.bitwise_and(
        _outer_side(alpha.shape, shoulder, armpit, keys.centre_x, overlap), allowed
    )
    return cv2.bitwise_and(alpha, alpha, mask=mask)


def _body_region(alpha, sleeves, cutout, overlap):
    region = alpha.copy()
    for part in sleeves:
        shoulder, armpit = part.armhole
        cut = _outer_side(alpha.shape, shoulder, armpit, cutout.keypoints.centre_x, -overlap)
        cut[max(0, int(np.ceil(armpit[1]))) :] = 0  # only above the armpit
        region[cut > 0] = 0
    return region


def _garment_alpha(cutout: GarmentCutout) -> np.ndarray:
    """Garment coverage with the neck opening cut out, so the wearer's neck shows through."""
    # The cut-out's outermost pixels mix fabric with background (and its shadow): drop them,
    # at the frame of a tight crop too.
    alpha = cv2.erode(cutout.mask, ellipse_kernel(5), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    keys = cutout.keypoints
    half_opening = (keys.collar_right[0] - keys.collar_left[0]) / 2
    centre = (int(round(keys.neck[0])), int(round(keys.neck[1])))
    axes = (max(1, int(half_opening * 0.92)), max(1, int(half_opening * 0.72)))
    cv2.ellipse(alpha, centre, axes, 0, 0, 360, 0, -1)
    return alpha


@dataclass
class GarmentLayer:
    """What the composite changes, over a box (x0, y0, x1, y1) of the working image."""

    box: tuple[int, int, int, int]
    image: np.ndarray  # uint8 BGR, the box's size: the shaded garment (and the fill beside it)
    alpha: np.ndarray  # float32 in [0, 1]: how much of each pixel the layer replaces


def compose_layer(
    person_bgr: np.ndarray, person: PersonAnalysis, placement: Placement, garment: WarpedGarment
) -> GarmentLayer:
    """Decide what the garment covers and how it is shaded, at the working resolution."""
    box, warped = garment.box, garment.image
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return GarmentLayer(box, np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.float32))
    body = person.mask_in_box(box)
    region = person_bgr[y0:y1, x0:x1]
    # A forearm in front of the torso hides the body of the garment, not its own sleeve.
    in_front = _in_front_of_garment(person, placement, box, body, region) * (1.0 - garment.sleeves)

    alpha = garment.alpha * (1.0 - in_front)
    # The garment may stand a little off the body, but not float over the background.
    alpha = alpha * person.mask_in_box(box, grow=0.14 * placement.shoulder_width)
    old = OldClothing(
        region, body, in_front, alpha, placement, box, _face_sample(person, box, region)
    )
    warped, alpha = old.cover_beside(warped, alpha)
    alpha = cv2.GaussianBlur(
        alpha, (0, 0), max(1.0, FEATHER_PER_SHOULDER * placement.shoulder_width)
    )

    shade = _shading(region, alpha, placement.shoulder_width)
    shaded = cv2.multiply(warped, cv2.merge([shade, shade, shade]), dtype=cv2.CV_8U)
    shaded, alpha = old.replace_leftovers(shaded, alpha)
    _protect_face(alpha, person.face.box, box)
    return GarmentLayer(box, shaded, alpha)


def paste_layer(
    person_bgr: np.ndarray, layer: GarmentLayer, work_scale: float, face_box
) -> np.ndarray:
    """Blend the layer into a copy of the full-size person photo.

    The layer was made at work_scale (<= 1) of the photo. For big photos it is resampled
    band by band, so the extra memory stays a few megabytes whatever the photo's size,
    and the face box (in working pixels) is cleared again at full size, so resampling
    cannot bleed garment into the face.
    """
    result = person_bgr.copy()
    x0, y0, x1, y1 = layer.box
    if x1 <= x0 or y1 <= y0:
        return result
    if work_scale == 1.0:
        region = result[y0:y1, x0:x1]
        region[:] = cv2.blendLinear(layer.image, region, layer.alpha, 1.0 - layer.alpha)
        return result
    height, width = person_bgr.shape[:2]
    full_box = (
        int(np.floor(x0 / work_scale)),
        int(np.floor(y0 / work_scale)),
        min(width, int(np.ceil(x1 / work_scale))),
        min(height, int(np.ceil(y1 / work_scale))),
    )
    fx0, fy0, fx1, fy1 = full_box
    full_face = np.asarray(face_box, float) / work_scale
    for top in range(fy0, fy1, PASTE_BAND_ROWS):
        band = (fx0, top, fx1, min(fy1, top + PASTE_BAND_ROWS))
        image, alpha = _resample_band(layer, work_scale, band)
        _protect_face(alpha, full_face, band)
        region = result[band[1] : band[3], fx0:fx1]
        region[:] = cv2.blendLinear(image, region, alpha, 1.0 - alpha)
    return result


def _resample_band(layer: GarmentLayer, work_scale: float, band) -> tuple[np.ndarray, np.ndarray]:
    """The layer's image and alpha over a full-resolution band (x0, y0, x1, y1), bilinear."""
    bx0, by0, bx1, by1 = band
    s = work_scale
    # Full-resolution pixel centres mapped onto working-resolution pixels of the layer's box.
    matrix = np.float32(
        [[s, 0, (bx0 + 0.5) * s - 0.5 - layer.box[0]], [0, s, (by0 + 0.5) * s - 0.5 - layer.box[1]]]
    )
    size = (bx1 - bx0, by1 - by0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    image = cv2.warpAffine(layer.image, matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(
        layer.alpha, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return image, alpha


def _in_front_of_garment(
    person: PersonAnalysis, placement: Placement, box, body: np.ndarray, region: np.ndarray
) -> np.ndarray:
    """Head, neck and forearms crossing the torso stay in front of the new garment."""
    x0, y0 = box[0], box[1]
    keep = np.zeros(body.shape, np.float32)
    offset = np.array([x0, y0])

    def pt(p):
        q = np.asarray(p) - offset
        return int(round(q[0])), int(round(q[1]))

    fx, fy, fw, fh = person.face.box
    cv2.ellipse(
        keep, pt([fx + fw / 2, fy + fh * 0.55]), (int(fw * 0.62), int(fh * 0.8)), 0, 0, 360, 1.0, -1
    )
    chin = [fx + fw / 2, fy + fh]
    neck_base = placement.neck_base + placement.down * 0.04 * placement.shoulder_width
    cv2.line(keep, pt(chin), pt(neck_base), 1.0, max(1, int(fw * 0.42)))
    keep *= body > 0.4
    forearms = _forearms_in_front(person, placement, box, body, region)
    return cv2.GaussianBlur(np.maximum(keep, forearms), (0, 0), 2.0)


def _forearms_in_front(
    person: PersonAnalysis, placement: Placement, box, body: np.ndarray, region: np.ndarray
) -> np.ndarray:
    """Forearms and hands over the torso, as a 0/1 float mask of the box.

    When the pose model is sure of elbow and wrist, the whole forearm band is in front
    (it may be clothed). When it is not (the wrists of a photo cut at the waist score
    0.1-0.3), only the band's pixels that are part of the person and have the colour of
    the person's own face skin are kept: bare forearms and hands come out in front, and a
    wrong guess costs nothing, since clothing rarely has skin colour.
    """
    x0, y0 = box[0], box[1]
    height, width = body.shape
    confident = np.zeros((height, width), np.uint8)
    uncertain = np.zeros((height, width), np.uint8)
    for elbow, wrist in ((LEFT_ELBOW, LEFT_WRIST), (RIGHT_ELBOW, RIGHT_WRIST)):
        visibility = min(person.visibility[elbow], person.visibility[wrist])
        start, end = person.points[elbow] - (x0, y0), person.points[wrist] - (x0, y0)
        hand = end + 0.35 * (end - start)  # the hand carries on past the wrist
        if visibility > FOREARM_CONFIDENT:
            cv2.line(
                confident,
                _pixel(start),
                _pixel(end),
                1,
                max(1, int(0.22 * placement.shoulder_width)),
            )
        elif visibility > FOREARM_MIN_VISIBILITY:
            cv2.line(
                uncertain,
                _pixel(start),
                _pixel(hand),
                1,
                max(1, int(0.4 * placement.shoulder_width)),
            )
    in_front = confident.astype(bool)
    if uncertain.any():
        # Only the bands' bounding box (and the opening's reach around it) needs looking at.
        kernel = ellipse_kernel(0.06 * placement.shoulder_width)
        x, y, w, h = cv2.boundingRect(uncertain)
        pad = kernel.shape[0]
        left, top = max(0, x - pad), max(0, y - pad)
        right, bottom = min(width, x + w + pad), min(height, y + h + pad)
        window = (slice(top, bottom), slice(left, right))
        skin = _skin_like(region, person, box, (left, top, right - left, bottom - top))[window]
        skin &= (uncertain[window] > 0) & (body[window] > 0.5)
        # Colour fringes along seams and straps are thin; a forearm or hand is a sizeable blob.
        in_front[window] |= cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    return (in_front & (body > 0.4)).astype(np.float32)


def _pixel(point) -> tuple[int, int]:
    return int(round(point[0])), int(round(point[1]))


def _skin_like(region: np.ndarray, person: PersonAnalysis, box, within) -> np.ndarray:
    """Pixels of the box with about the colour of the middle of the person's face (Lab).

    Only the part within (x, y, w, h, box pixels) is looked at; the rest is False.
    """
    skin = np.zeros(region.shape[:2], bool)
    image_face = _face_sample(person, box, region)
    x, y, w, h = within
    if image_face is None or w == 0 or h == 0:
        return skin
    lab = cv2.cvtColor(region[y : y + h, x : x + w], cv2.COLOR_BGR2LAB).astype(np.float32)
    skin[y : y + h, x : x + w] = skin_like(lab, image_face, SKIN_CHROMA_TOLERANCE)
    return skin


def _face_sample(person: PersonAnalysis, box, region: np.ndarray):
    """Median Lab colour of the cheeks and nose (the face box's middle), if the box holds it."""
    fx, fy, fw, fh = person.face.box
    left, right = int(fx + 0.3 * fw - box[0]), int(fx + 0.7 * fw - box[0])
    top, bottom = int(fy + 0.45 * fh - box[1]), int(fy + 0.75 * fh - box[1])
    height, width = region.shape[:2]
    left, top, right, bottom = max(0, left), max(0, top), min(width, right), min(height, bottom)
    if right - left < 3 or bottom - top < 3:
        return None
    lab = (
        cv2.cvtColor(region[top:bottom, left:right], cv2.COLOR_BGR2LAB)
        .reshape(-1, 3)
        .astype(np.float32)
    )
    return np.median(lab, axis=0)


def _protect_face(alpha: np.ndarray, face_box, box) -> None:
    """The face box (x, y, w, h) is never painted over, whatever the warp did."""
    x0, y0 = box[0], box[1]
    fx, fy, fw, fh = face_box
    height, width = alpha.shape
    left, top = int(max(0, np.floor(fx - x0))), int(max(0, np.floor(fy - y0)))
    right, bottom = int(min(width, np.ceil(fx + fw - x0))), int(min(height, np.ceil(fy + fh - y0)))
    if right > left and bottom > top:
        alpha[top:bottom, left:right] = 0.0


def _shading(region: np.ndarray, alpha: np.ndarray, shoulder_width: float) -> np.ndarray:
    """Fold shading of the old clothing, as a multiplicative factor around 1 for the new garment.

    Only broad, soft light changes carry over: the old clothing's lightness is compared with
    its heavily smoothed self at a small size, and the ratio is clipped to a narrow range.
    Pixels that do not look like plain fabric of the old clothing (patches, skin, straps) or
    lie near strong edges (prints, seams, text) are left out and filled in from their
    neighbours, so none of them ghost through the new garment.
    """
    height, width = alpha.shape
    scale = min(1.0, SHADING_SHOULDER_PIXELS / shoulder_width)
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(region, small_size, interpolation=cv2.INTER_AREA)
    small_alpha = cv2.resize(alpha, small_size, interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    lightness = lab[..., 0]
    covered = small_alpha > 0.5
    if np.count_nonzero(covered) < 50:
        return np.ones((height, width), np.float32)

    small_shoulder = shoulder_width * scale
    plain = _plain_fabric(lab, covered, small_shoulder)
    folds = _normalized_blur(lightness, plain, FOLD_SIGMA * small_shoulder)
    light = _normalized_blur(lightness, plain, LIGHT_SIGMA * small_shoulder)
    ratio = np.clip(folds / (light + 1.0), SHADE_MIN, SHADE_MAX)
    confidence = np.clip(cv2.GaussianBlur(plain, (0, 0), FOLD_SIGMA * small_shoulder) * 1.5, 0, 1)
    shade = confidence * ratio + (1.0 - confidence)
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
        hue_gap = np.abs(
            (hue - np.arctan2(median_ab[1], median_ab[0]) + np.pi) % (2 * np.pi) - np.pi
        )
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
    return cv2.GaussianBlur(values * weights, (0, 0), sigma) / (
        cv2.GaussianBlur(weights, (0, 0), sigma) + 1e-3
    )

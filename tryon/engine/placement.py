"""Decide where each garment keypoint goes on the person (the control points of the warp).

The body of the garment is placed by one similarity transform (neck to neck, width
from the shoulders) plus a bounded vertical stretch towards the hips. Its sides are
then pulled onto the torso's own outline, measured from the person mask at a few
heights, so the garment narrows or widens with the body instead of hanging as a
rectangle. Each sleeve is laid along its upper arm (shoulder to elbow landmarks),
as wide as the arm measured from the mask plus some ease, and a short sleeve ends
part way down the upper arm, above the elbow, so the arm below it shows. The collar
sits at the base of the neck, found from the shoulder line and the chin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .garment import GarmentKeypoints
from .imaging import rotation, unit
from .person import (
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_SHOULDER,
    LEFT_WRIST,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    PersonAnalysis,
)

BODY_WIDTH_PER_SHOULDER = 1.12  # garment body width / distance between the shoulder joints
NECK_ABOVE_SHOULDERS = 0.22  # collar top sits this many shoulder widths above the shoulder line,
# ... but stays below the chin by this share of the chin's height above that line
NECK_BELOW_CHIN = 0.3
HEM_BELOW_HIPS = 0.10  # wanted hem position, as a share of the torso length below the hip line
MIN_STRETCH, MAX_STRETCH = 0.85, 1.2  # vertical stretch allowed to reach the hips

# Torso outline: where the side seams are measured, as shares of the garment's armpit-to-hem length.
SIDE_ROWS = (0.0, 0.3, 0.65, 1.0)  # armpit, chest, waist, hem
BODY_EASE = 1.06  # a t-shirt stands a little off the body
# Measured half widths stay within these shares of the shoulder width, row by row (a typical
# chest is about as wide as the shoulders, a waist narrower, a slim waist about half as wide):
# a mask that leaks into the background, a hole in it or a misplaced elbow must not make the
# garment balloon or pinch, but a slim person must not get a garment wider than their torso.
MIN_TORSO_HALF = (0.32, 0.26, 0.24, 0.26)
# Where the arm, not the mask's edge, bounds the torso (an arm against the body, a bulky sleeve)
# the mask cannot show how slim the torso is: below the armpits it is then taken to be at least
# of average build. At the armpits the arm's inner edge is the garment's side, whatever the build.
ARM_BOUND_TORSO_HALF = (0.32, 0.38, 0.34, 0.36)
MAX_TORSO_HALF = 0.64
# Worn, the armhole wraps round the arm: seen from the front the armpit sits at most this many
# shoulder widths below the shoulder line, higher than the deep armhole of a flat-lay photo.
ARMPIT_BELOW_SHOULDERS = 0.38

MIN_ELBOW_VISIBILITY = 0.3  # below this the elbow is a guess: assume the arm hangs down
MIN_WRIST_VISIBILITY = 0.1  # only long sleeves use the wrist, and only as a direction
# A short sleeve ends where the garment's own sleeve length puts it, but within these shares of
# the upper arm: past its upper half (or it reads as a vest) and above the elbow.
MIN_SHORT_SLEEVE_SHARE, MAX_SHORT_SLEEVE_SHARE = 0.6, 0.8
MIN_INNER_SEAM = 0.12  # ... and always this many shoulder widths past the armpit
# A sleeve longer than this share of the garment's body width is a long sleeve (a short one is
# about 0.4, a long one 0.9-1.2 in a flat lay): it runs along the forearm and ends just short
# of the wrist landmark.
LONG_SLEEVE_BODY_SHARE = 0.7
LONG_SLEEVE_WRIST_SHARE = 0.97
SLEEVE_EASE = 1.1  # sleeve half width / arm half width: a t-shirt sleeve is a little loose
MIN_ARM_HALF, MAX_ARM_HALF = 0.1, 0.2  # arm half width, in shoulder widths
CUFF_SHARE = 0.3  # garment sleeve half width at the cuff / armhole length (root: 0.5)


@dataclass
class Arm:
    """One arm in person pixels: joints and the measured half width of the upper arm."""

    shoulder: np.ndarray
    elbow: np.ndarray
    wrist: np.ndarray
    half_width: float
    elbow_visibility: float
    wrist_visibility: float

    def point_at(self, distance: float) -> np.ndarray:
        """The point this far from the shoulder along shoulder -> elbow -> wrist."""
        upper = float(np.linalg.norm(self.elbow - self.shoulder))
        if distance <= upper:
            return self.shoulder + unit(self.elbow - self.shoulder) * distance
        return self.elbow + unit(self.wrist - self.elbow) * (distance - upper)

    @property
    def upper_length(self) -> float:
        return float(np.linalg.norm(self.elbow - self.shoulder))

    @property
    def length(self) -> float:
        return self.upper_length + float(np.linalg.norm(self.wrist - self.elbow))


@dataclass
class Part:
    """One piece of the garment warped on its own: control points and, for sleeves, the armhole."""

    garment_points: np.ndarray  # (n, 2) in garment pixels
    person_points: np.ndarray  # (n, 2) in person pixels
    armhole: tuple[np.ndarray, np.ndarray] | None = None  # (shoulder, armpit) in garment pixels
    arm: Arm | None = None  # the arm a sleeve is laid along
    # distance from the shoulder joint to the cuff along the arm, person pixels
    cuff_reach: float = 0.0

    def sleeve_outline(self) -> np.ndarray:
        """A sleeve's outline on the person (polygon, person pixels): shoulder seam, along the arm's
        outer side to the cuff, back along its inner side to the armpit."""
        points = self.person_points
        seam_top, armpit, rows = points[0], points[1], points[3:].reshape(-1, 3, 2)
        first, second = rows[:, 0], rows[:, 2]
        if np.linalg.norm(first[0] - seam_top) > np.linalg.norm(second[0] - seam_top):
            first, second = second, first
        return np.concatenate([[seam_top], first, second[::-1], [armpit]])

    def with_garment_scaled(self, factor: float) -> Part:
        armhole = (
            None if self.armhole is None else (self.armhole[0] * factor, self.armhole[1] * factor)
        )
        return replace(self, garment_points=self.garment_points * factor, armhole=armhole)


@dataclass
class Placement:
    body: Part
    sleeves: list[Part]
    shoulder_width: float
    down: np.ndarray  # unit vector from the shoulders towards the hips
    across: np.ndarray  # unit vector from the person's right shoulder to the left one
    neck_base: np.ndarray
    garment_scale: float  # person pixels per garment pixel
    arms: tuple[Arm, Arm] | None = None  # the person's right arm (image left), then the left

    def with_garment_scaled(self, factor: float) -> Placement:
        """The same placement for a garment photo resized by factor."""
        return replace(
            self,
            body=self.body.with_garment_scaled(factor),
            sleeves=[s.with_garment_scaled(factor) for s in self.sleeves],
            garment_scale=self.garment_scale / factor,
        )

    def box(self, width: int, height: int, margin: float) -> tuple[int, int, int, int]:
        every = np.concatenate([self.body.person_points] + [s.person_points for s in self.sleeves])
        low, high = every.min(axis=0) - margin, every.max(axis=0) + margin
        x0, y0 = np.clip(np.floor(low), 0, [width, height]).astype(int)
        x1, y1 = np.clip(np.ceil(high), 0, [width, height]).astype(int)
        return int(x0), int(y0), int(x1), int(y1)


def place_garment(person: PersonAnalysis, garment: GarmentKeypoints) -> Placement:
    points = person.points
    left_shoulder, right_shoulder = points[LEFT_SHOULDER], points[RIGHT_SHOULDER]
    across = unit(left_shoulder - right_shoulder)
    shoulder_width = float(np.linalg.norm(left_shoulder - right_shoulder))
    down = np.array([-across[1], across[0]])
    if down[1] < 0:
        down = -down
    shoulders_mid = (left_shoulder + right_shoulder) / 2
    hips_mid = (points[LEFT_HIP] + points[RIGHT_HIP]) / 2
    torso_length = max(float(np.dot(hips_mid - shoulders_mid, down)), 1.2 * shoulder_width)

    neck_base = shoulders_mid - down * _collar_height(person, shoulders_mid, down, shoulder_width)
    scale = BODY_WIDTH_PER_SHOULDER * shoulder_width / garment.body_width
    garment_length = garment.hem[1] - garment.neck[1]
    wanted_length = float(np.dot(hips_mid + down * HEM_BELOW_HIPS * torso_length - neck_base, down))
    stretch = float(np.clip(wanted_length / (scale * garment_length), MIN_STRETCH, MAX_STRETCH))
    linear = rotation(np.arctan2(across[1], across[0])) @ np.diag([scale, scale * stretch])

    def on_body(p):
        return neck_base + linear @ (np.asarray(p, float) - garment.neck)

    arms = (
        _measure_arm(
            person, RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST, -across, down, shoulder_width
        ),
        _measure_arm(person, LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST, across, down, shoulder_width),
    )
    torso = _Torso(shoulders_mid, across, down, shoulder_width)
    body_garment, body_person = _body_pairs(person, garment, on_body, torso, arms)
    body = Part(np.array(body_garment), np.array(body_person))
    # Body points 5 and 6 are the armpits: the sleeves share them so the seams meet.
    armpits_on_person = {"left": body_person[5], "right": body_person[6]}
    sleeves = []
    sides = (
        (garment.shoulder_left, garment.armpit_left, garment.sleeve_end_left, arms[0], "left"),
        (garment.shoulder_right, garment.armpit_right, garment.sleeve_end_right, arms[1], "right"),
    )
    for shoulder, armpit, sleeve_end, arm, side in sides:
        if sleeve_end is None:
            continue
        sleeves.append(
            _sleeve(
                shoulder,
                armpit,
                sleeve_end,
                arm,
                on_body(shoulder),
                armpits_on_person[side],
                scale,
                MIN_INNER_SEAM * shoulder_width,
                garment.body_width,
            )
        )

    return Placement(
        body=body,
        sleeves=sleeves,
        shoulder_width=shoulder_width,
        down=down,
        across=across,
        neck_base=neck_base,
        garment_scale=scale,
        arms=arms,
    )


def _collar_height(
    person: PersonAnalysis, shoulders_mid: np.ndarray, down: np.ndarray, shoulder_width: float
) -> float:
    """How far above the shoulder line the collar sits: the base of the neck.

    A fixed share of the shoulder width fits an upright head; when the chin is low (head
    bowed, shoulders raised, a seated pose) that would put the collar on the chin, so the
    collar also stays well below the chin (the face box's lower edge).
    """
    fx, fy, fw, fh = person.face.box
    chin_height = float(np.dot(shoulders_mid - np.array([fx + fw / 2, fy + fh]), down))
    return max(0.0, min(NECK_ABOVE_SHOULDERS * shoulder_width, (1 - NECK_BELOW_CHIN) * chin_height))


def _measure_arm(
    person: PersonAnalysis,
    shoulder_index: int,
    elbow_index: int,
    wrist_index: int,
    outward: np.ndarray,
    down: np.ndarray,
    shoulder_width: float,
) -> Arm:
    """The arm's joints, and its half width measured on the mask on the side away from the body.

    Only the outer side is measured: on the inner side an arm resting against the torso
    merges with it in the mask. The landmark line is taken as the arm's middle.
    """
    shoulder = person.points[shoulder_index]
    elbow = person.points[elbow_index]
    elbow_visibility = float(person.visibility[elbow_index])
    if (
        elbow_visibility < MIN_ELBOW_VISIBILITY
        or np.linalg.norm(elbow - shoulder) < 0.3 * shoulder_width
    ):
        elbow = shoulder + down * 0.8 * shoulder_width  # elbow unknown: assume the arm hangs down
    wrist = person.points[wrist_index]
    wrist_visibility = float(person.visibility[wrist_index])
    if (
        wrist_visibility < MIN_WRIST_VISIBILITY
        or np.linalg.norm(wrist - elbow) < 0.3 * shoulder_width
    ):
        wrist = elbow + (elbow - shoulder)  # forearm unknown: assume it carries on straight
    direction = unit(elbow - shoulder)
    side = np.array([-direction[1], direction[0]])
    if np.dot(side, outward) < 0:
        side = -side
    upper = float(np.linalg.norm(elbow - shoulder))
    limit = MAX_ARM_HALF * shoulder_width
    reaches = [
        person.silhouette_reach(shoulder + direction * upper * t, side, limit) for t in (0.35, 0.6)
    ]
    half_width = float(np.clip(np.median(reaches), MIN_ARM_HALF * shoulder_width, limit))
    return Arm(shoulder, elbow, wrist, half_width, elbow_visibility, wrist_visibility)


@dataclass
class _Torso:
    """The torso's frame in person pixels: the shoulder line's middle and its two axes."""

    shoulders_mid: np.ndarray
    across: np.ndarray
    down: np.ndarray
    shoulder_width: float


def _body_pairs(person, garment, on_body, torso: _Torso, arms):
    """Control points of the garment's body: neckline and shoulders by the similarity,
    sides on the torso.

    Each side row also pins its centre, so horizontal lines of the garment (stripes, the
    hem) stay straight across the body while the sides move in or out.
    """
    pairs = [
        (p, on_body(p))
        for p in (
            garment.collar_left,
            garment.collar_right,
            garment.neck,
            garment.shoulder_left,
            garment.shoulder_right,
        )
    ]
    bottom = garment.hem[1]
    armpit_y = (garment.armpit_left[1] + garment.armpit_right[1]) / 2
    sides, centres = [], []
    for row, share in enumerate(SIDE_ROWS):
        y = armpit_y + share * (bottom - armpit_y)
        centre = on_body([garment.centre_x, y])
        if row == 0:
            depth = float(np.dot(centre - torso.shoulders_mid, torso.down))
            centre = centre - torso.down * max(
                0.0, depth - ARMPIT_BELOW_SHOULDERS * torso.shoulder_width
            )
        centres.append((np.array([garment.centre_x, y]), centre))
        for seam, armpit, sign, arm in (
            (garment.body_left, garment.armpit_left, -1.0, arms[0]),
            (garment.body_right, garment.armpit_right, +1.0, arms[1]),
        ):
            on_garment = np.array([armpit[0], y]) if row == 0 else np.array([seam, y])
            half = _torso_half_width(person, centre, sign, arm, torso, row)
            sides.append((on_garment, centre + sign * torso.across * half))
    pairs[5:5] = sides[:2]  # armpits right after the shoulders (indices 5 and 6)
    pairs += sides[2:] + centres
    return [g for g, _ in pairs], [p for _, p in pairs]


def _torso_half_width(
    person: PersonAnalysis, centre: np.ndarray, sign: float, arm: Arm, torso: _Torso, row: int
) -> float:
    """Distance from the torso's centre line to its edge on one side (sign -1: image
    left), plus ease.

    Measured on the mask, but never past the inner edge of the arm on that side (an arm
    hanging against the body is one blob with the torso in the mask). Rows below the
    photo are measured on the photo's last rows, where the hips usually still are. The
    result stays within the row's bounds (MIN_TORSO_HALF where the mask's edge was found,
    ARM_BOUND_TORSO_HALF where the arm cut the measurement short).
    """
    min_share = MIN_TORSO_HALF[row]
    outward = sign * torso.across
    image_height = person.mask_small.shape[0] / person.mask_scale
    probe = centre.copy()
    probe[1] = min(probe[1], image_height - 3)
    limit = MAX_TORSO_HALF * torso.shoulder_width / BODY_EASE
    reach = person.silhouette_reach(probe, outward, limit)
    arm_offset = _arm_offset_at(arm, probe, outward, torso.down)
    if arm_offset is not None and arm_offset - arm.half_width < reach:
        reach = arm_offset - arm.half_width
        min_share = ARM_BOUND_TORSO_HALF[row]
    return float(
        np.clip(
            reach * BODY_EASE,
            min_share * torso.shoulder_width,
            MAX_TORSO_HALF * torso.shoulder_width,
        )
    )


def _arm_offset_at(
    arm: Arm, probe: np.ndarray, outward: np.ndarray, down: np.ndarray
) -> float | None:
    """How far out from probe (along outward) the arm's centre line crosses the probe's row.

    The hand is taken to hang on below the wrist, so rows below it are limited too.
    """
    path = [
        arm.shoulder,
        arm.elbow,
        arm.wrist,
        arm.wrist + down * np.linalg.norm(arm.wrist - arm.shoulder),
    ]
    heights = [float(np.dot(p - probe, down)) for p in path]
    # Consecutive pairs: the shifted copies are one shorter, so zip stops early on purpose.
    for a, b, ha, hb in zip(path, path[1:], heights, heights[1:], strict=False):
        if ha * hb <= 0 and ha != hb:
            crossing = a + (b - a) * (ha / (ha - hb))
            offset = float(np.dot(crossing - probe, outward))
            return offset if offset > 0 else None
    return None


def _sleeve(
    shoulder,
    armpit,
    sleeve_end,
    arm: Arm,
    seam_top_on_person,
    armpit_on_person,
    scale,
    min_inner_seam: float,
    body_width: float,
) -> Part:
    """Control points of one sleeve laid along its upper arm.

    The armhole seam stays where the body puts it. Further out, the sleeve's centre line
    follows the arm from the shoulder joint and its width follows the arm's: a short
    sleeve ends part way down the upper arm, above the elbow; a long one runs along the
    forearm to the wrist. The composite draws the outline these points span (sleeve_outline)
    as the sleeve, so it always comes along whole.
    """
    root = (shoulder + armpit) / 2
    axis = unit(sleeve_end - root)
    across_sleeve = np.array([-axis[1], axis[0]])
    armhole = float(np.linalg.norm(armpit - shoulder))
    garment_reach = float(np.linalg.norm(sleeve_end - root)) * scale
    if np.linalg.norm(sleeve_end - root) > LONG_SLEEVE_BODY_SHARE * body_width:
        # Flat-lay sleeves look short against a worn arm: a long sleeve runs on to the wrist.
        reach = LONG_SLEEVE_WRIST_SHARE * arm.length
        shares = sorted({0.5 * arm.upper_length / reach, min(1.0, arm.upper_length / reach), 1.0})
    else:
        # The cuff must clear the armpit, or the sleeve would fold back on itself.
        armpit_depth = float(
            np.dot(armpit_on_person - arm.shoulder, unit(arm.elbow - arm.shoulder))
        )
        reach = float(
            np.clip(
                garment_reach,
                MIN_SHORT_SLEEVE_SHARE * arm.upper_length,
                MAX_SHORT_SLEEVE_SHARE * arm.upper_length,
            )
        )
        reach = max(reach, armpit_depth + min_inner_seam)
        shares = [0.5, 1.0]
    pairs = [
        (shoulder, seam_top_on_person),
        (armpit, armpit_on_person),
        (root, (seam_top_on_person + armpit_on_person) / 2),
    ]
    for share in shares:
        centre_garment = root + share * (sleeve_end - root)
        centre_person = arm.point_at(share * reach)
        segment = unit(arm.point_at(share * reach) - arm.point_at(max(0.0, share * reach - 1.0)))
        # Built like across_sleeve (axis turned a quarter), so the sleeve is never mirrored.
        person_across = np.array([-segment[1], segment[0]])
        garment_half = armhole * (0.5 + (CUFF_SHARE - 0.5) * share)
        person_half = arm.half_width * SLEEVE_EASE
        for side in (-1.0, 0.0, 1.0):
            pairs.append(
                (
                    centre_garment + side * garment_half * across_sleeve,
                    centre_person + side * person_half * person_across,
                )
            )
    return Part(
        np.array([g for g, _ in pairs]),
        np.array([p for _, p in pairs]),
        armhole=(shoulder, armpit),
        arm=arm,
        cuff_reach=reach,
    )

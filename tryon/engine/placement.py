"""Decide where each garment keypoint goes on the person (the control points of the warp).

The body of the garment is placed by one similarity transform (neck to neck, width
from the shoulders) plus a bounded vertical stretch towards the hips; the sleeves
are then bent about their armholes towards the upper arms. Bending is spread along
the sleeve (little at the root, most at the cuff) so the sleeve curves instead of
swinging stiffly as a rigid blade.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .garment import GarmentKeypoints
from .imaging import rotation, unit
from .person import (LEFT_ELBOW, LEFT_HIP, LEFT_SHOULDER, RIGHT_ELBOW, RIGHT_HIP, RIGHT_SHOULDER,
                     PersonAnalysis)

BODY_WIDTH_PER_SHOULDER = 1.12  # garment body width / distance between the shoulder joints
NECK_ABOVE_SHOULDERS = 0.22  # collar top sits this many shoulder widths above the shoulder line
HEM_BELOW_HIPS = 0.10  # wanted hem position, as a share of the torso length below the hip line
MIN_STRETCH, MAX_STRETCH = 0.85, 1.2  # vertical stretch allowed to reach the hips
MAX_SLEEVE_BEND_DEG = 50.0
SLEEVE_OUTWARD_LEAN = 0.35  # fabric stands off the arm a little


@dataclass
class Part:
    """One piece of the garment warped on its own: control points and, for sleeves, the armhole."""

    garment_points: np.ndarray  # (n, 2) in garment pixels
    person_points: np.ndarray  # (n, 2) in person pixels
    armhole: tuple[np.ndarray, np.ndarray] | None = None  # (shoulder, armpit) in garment pixels

    def with_garment_scaled(self, factor: float) -> "Part":
        armhole = None if self.armhole is None else (self.armhole[0] * factor, self.armhole[1] * factor)
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

    def with_garment_scaled(self, factor: float) -> "Placement":
        """The same placement for a garment photo resized by factor."""
        return replace(self, body=self.body.with_garment_scaled(factor),
                       sleeves=[s.with_garment_scaled(factor) for s in self.sleeves],
                       garment_scale=self.garment_scale / factor)

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

    neck_base = shoulders_mid - down * NECK_ABOVE_SHOULDERS * shoulder_width
    scale = BODY_WIDTH_PER_SHOULDER * shoulder_width / garment.body_width
    garment_length = garment.hem[1] - garment.neck[1]
    wanted_length = float(np.dot(hips_mid + down * HEM_BELOW_HIPS * torso_length - neck_base, down))
    stretch = float(np.clip(wanted_length / (scale * garment_length), MIN_STRETCH, MAX_STRETCH))
    linear = rotation(np.arctan2(across[1], across[0])) @ np.diag([scale, scale * stretch])

    def on_body(p):
        return neck_base + linear @ (np.asarray(p, float) - garment.neck)

    body_points = _body_points(garment)
    body = Part(np.array(body_points), np.array([on_body(p) for p in body_points]))
    sleeves = []
    sides = (
        (garment.shoulder_left, garment.armpit_left, garment.sleeve_end_left, RIGHT_SHOULDER, RIGHT_ELBOW, -1),
        (garment.shoulder_right, garment.armpit_right, garment.sleeve_end_right, LEFT_SHOULDER, LEFT_ELBOW, +1),
    )
    for shoulder, armpit, sleeve_end, shoulder_index, elbow_index, outward in sides:
        if sleeve_end is None:
            continue
        arm = points[elbow_index] - points[shoulder_index]
        if person.visibility[elbow_index] < 0.3 or np.linalg.norm(arm) < 1:
            arm = down * shoulder_width  # elbow unknown: assume the arm hangs down
        wanted = unit(unit(arm) + SLEEVE_OUTWARD_LEAN * outward * across)
        pairs = _sleeve_pairs(shoulder, armpit, sleeve_end, on_body, wanted)
        sleeves.append(Part(np.array([g for g, _ in pairs]), np.array([p for _, p in pairs]),
                            armhole=(shoulder, armpit)))

    return Placement(body=body, sleeves=sleeves, shoulder_width=shoulder_width,
                     down=down, across=across, neck_base=neck_base, garment_scale=scale)


def _body_points(garment: GarmentKeypoints) -> list[np.ndarray]:
    bottom = garment.hem[1]
    left, right = garment.body_left, garment.body_right
    return [
        garment.collar_left, garment.collar_right, garment.neck,
        garment.shoulder_left, garment.shoulder_right, garment.armpit_left, garment.armpit_right,
        np.array([left, (garment.armpit_left[1] + bottom) / 2]),
        np.array([right, (garment.armpit_right[1] + bottom) / 2]),
        np.array([left, bottom]), np.array([right, bottom]), garment.hem,
        np.array([garment.centre_x, (garment.neck[1] + bottom) / 2]),
    ]


def _sleeve_pairs(shoulder, armpit, sleeve_end, on_body, wanted_direction):
    """Control points along one sleeve, bent progressively about the armhole."""
    root = (shoulder + armpit) / 2
    axis = unit(sleeve_end - root)
    across_sleeve = np.array([-axis[1], axis[0]])
    half_width = 0.45 * np.linalg.norm(armpit - shoulder)
    root_on_body = on_body(root)
    current = on_body(sleeve_end) - root_on_body
    bend = np.arctan2(wanted_direction[1], wanted_direction[0]) - np.arctan2(current[1], current[0])
    bend = (bend + np.pi) % (2 * np.pi) - np.pi
    bend = float(np.clip(bend, -np.radians(MAX_SLEEVE_BEND_DEG), np.radians(MAX_SLEEVE_BEND_DEG)))
    # The armhole seam stays where the body puts it; the sleeve turns about it.
    pairs = [(p, on_body(p)) for p in (shoulder, root, armpit)]
    for along in (0.5, 1.0):
        centre = root + along * (sleeve_end - root)
        turn = rotation(bend * (0.5 + 0.5 * along))
        for offset in (-half_width, 0.0, half_width):
            p = centre + offset * across_sleeve
            pairs.append((p, root_on_body + turn @ (on_body(p) - root_on_body)))
    return pairs

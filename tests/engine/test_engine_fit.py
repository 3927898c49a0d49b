"""How the garment is fitted to the body: sleeves along the upper arms and ending short of the
elbow, body sides on the torso's outline, bare forearms in front of the garment.

These tests use the engine's stages directly (person analysis, cut-out, placement,
composite) on the astronaut portrait, sometimes with a drawn person mask or drawn
forearm, so each rule is checked on its own.
"""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from tryon.engine.composite import _forearms_in_front
from tryon.engine.garment import cut_out_garment
from tryon.engine.networks import Face
from tryon.engine.person import LEFT_ELBOW, LEFT_WRIST, RIGHT_ELBOW, RIGHT_WRIST, analyse_person
from tryon.engine.placement import BODY_EASE, SIDE_ROWS, place_garment

pytestmark = pytest.mark.slow   # the real engine on photos: `make test-fast` leaves it out


@pytest.fixture(scope="module")
def models(engine):
    return engine._models_for_this_thread()


@pytest.fixture(scope="module")
def person(models, portrait):
    return analyse_person(portrait, models)


@pytest.fixture(scope="module")
def tshirt_keypoints(models, blue_tshirt):
    return cut_out_garment(blue_tshirt, models).keypoints


def _angle_deg(a, b) -> float:
    cosine = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cosine, -1, 1))))


def test_sleeves_follow_the_upper_arms(person, tshirt_keypoints):
    placement = place_garment(person, tshirt_keypoints)
    assert len(placement.sleeves) == 2
    for sleeve in placement.sleeves:
        arm = sleeve.arm
        middle, cuff = (
            sleeve.person_points[-5],
            sleeve.person_points[-2],
        )  # centres along the sleeve
        # Before: the sleeve kept the flat-lay's direction bent by at most 50 degrees.
        assert _angle_deg(cuff - middle, arm.elbow - arm.shoulder) < 10


def test_short_sleeves_end_above_the_elbow_and_are_about_as_wide_as_the_arm(
    person, tshirt_keypoints
):
    placement = place_garment(person, tshirt_keypoints)
    for sleeve in placement.sleeves:
        arm = sleeve.arm
        assert 0.3 * arm.upper_length < sleeve.cuff_reach < 0.9 * arm.upper_length
        cuff_width = np.linalg.norm(sleeve.person_points[-1] - sleeve.person_points[-3])
        assert 1.8 * arm.half_width < cuff_width < 3.0 * arm.half_width


def test_the_arm_below_a_short_sleeve_keeps_its_colour(
    engine, portrait, person, tshirt_keypoints, garment_photos
):
    green = garment_photos.tshirt(colour=(40, 160, 40), print_kind=None)
    result = engine.try_on(portrait, green).image
    placement = place_garment(person, tshirt_keypoints)
    image_left_sleeve = min(
        placement.sleeves, key=lambda s: s.arm.shoulder[0]
    )  # that arm is in frame
    arm = image_left_sleeve.arm
    below = arm.point_at(
        (image_left_sleeve.cuff_reach + arm.upper_length) / 2 + 0.1 * arm.upper_length
    )
    x, y = int(below[0]), int(below[1])
    patch = (slice(y - 12, y + 12), slice(max(0, x - 12), x + 12))
    change = np.abs(result[patch].astype(int) - portrait[patch].astype(int)).mean()
    # Before: the garment's body and the remnant cover painted it over (change about 100).
    assert change < 12, f"the arm below the sleeve changed by {change:.0f} grey levels"


def _drawn_person(person, half_widths):
    """The analysis with its mask replaced by a drawn torso (half width per row) and two arms held
    out from it (elbows and wrists moved outwards, so only the mask limits the torso)."""
    points = person.points.copy()
    shoulder_width = np.linalg.norm(points[11] - points[12])
    for shoulder, elbow, wrist, out in ((12, 14, 16, -1), (11, 13, 15, 1)):
        points[elbow] = points[shoulder] + np.array([out * 0.5, 0.55]) * shoulder_width
        points[wrist] = points[elbow] + np.array([out * 0.4, 0.4]) * shoulder_width
    person = replace(person, points=points)
    mask = np.zeros_like(person.mask_small)
    s = person.mask_scale
    points = person.points * s
    width = np.linalg.norm(points[11] - points[12])
    centre_x = (points[11][0] + points[12][0]) / 2
    top = int((points[11][1] + points[12][1]) / 2)
    rows = np.arange(top, mask.shape[0])
    half = np.interp(rows, top + np.array([0.0, 0.6, 1.2]) * width, np.asarray(half_widths) * width)
    for row, h in zip(rows, half, strict=True):
        mask[row, int(centre_x - h) : int(centre_x + h)] = 1.0
    for shoulder, elbow, wrist in ((12, 14, 16), (11, 13, 15)):
        arm = np.int32([points[shoulder], points[elbow], points[wrist]])
        cv2.polylines(mask, [arm], False, 1.0, int(0.3 * width))
    return replace(person, mask_small=mask)


def test_body_sides_follow_the_torso_outline(person, tshirt_keypoints):
    # A torso that narrows from chest to waist: the sides of the garment must follow it. (The
    # armpit row is left out: there the drawn arms overlap the torso and rightly limit it.)
    drawn = _drawn_person(person, (0.46, 0.36, 0.44))
    placement = place_garment(drawn, tshirt_keypoints)
    shoulder_width, across = placement.shoulder_width, placement.across
    centre_x = (drawn.points[11][0] + drawn.points[12][0]) / 2
    sides = placement.body.person_points[7 : 7 + 2 * (len(SIDE_ROWS) - 1)]
    for left, right in zip(sides[::2], sides[1::2], strict=True):
        row = (left[1] + right[1]) / 2
        if row > drawn.mask_small.shape[0] / drawn.mask_scale:
            continue  # below the photo
        inside = (
            np.flatnonzero(drawn.mask_small[int(row * drawn.mask_scale)] > 0.5) / drawn.mask_scale
        )
        torso = inside[np.abs(inside - centre_x) < 0.58 * shoulder_width]
        torso_width = torso.max() - torso.min()
        garment_width = float(np.dot(right - left, across))
        assert abs(garment_width / (torso_width * BODY_EASE) - 1) < 0.12, (
            row,
            garment_width,
            torso_width,
        )


def test_body_is_not_a_rectangle_on_a_waisted_torso(person, tshirt_keypoints):
    # Narrowing from the armpits down: the garment's armpit and waist rows must differ.
    placement = place_garment(_drawn_person(person, (0.5, 0.5, 0.34)), tshirt_keypoints)
    points = placement.body.person_points
    chest_width = np.linalg.norm(points[6] - points[5])  # the armpit row
    waist_width = np.linalg.norm(points[10] - points[9])  # the waist row (0.65 of armpit to hem)
    assert waist_width < 0.9 * chest_width


def _skin_band(portrait, person, start, end, thickness):
    """Paint a bare forearm in the colour of the person's own cheek across the torso."""
    fx, fy, fw, fh = person.face.box.astype(int)
    skin = np.median(
        portrait[fy + fh // 2 : fy + 3 * fh // 4, fx + fw // 3 : fx + 2 * fw // 3].reshape(-1, 3),
        axis=0,
    )
    painted = portrait.copy()
    cv2.line(painted, start, end, tuple(int(c) for c in skin), thickness)
    band = np.zeros(portrait.shape[:2], np.uint8)
    cv2.line(band, start, end, 1, thickness)
    return painted, band > 0


def _uncertain_forearm(person, elbow, wrist):
    """The analysis with the right forearm moved to elbow -> wrist at a low visibility
    (as on the astronaut)."""
    points, visibility = person.points.copy(), person.visibility.copy()
    points[RIGHT_ELBOW], points[RIGHT_WRIST] = elbow, wrist
    visibility[[RIGHT_ELBOW, RIGHT_WRIST, LEFT_ELBOW, LEFT_WRIST]] = 0.2
    return replace(person, points=points, visibility=visibility)


def test_a_bare_forearm_across_the_torso_stays_in_front_despite_low_visibility(
    portrait, person, tshirt_keypoints
):
    elbow, wrist = (140, 760), (380, 820)
    painted, band = _skin_band(portrait, person, elbow, wrist, 60)
    moved = _uncertain_forearm(person, np.array(elbow, float), np.array(wrist, float))
    placement = place_garment(moved, tshirt_keypoints)
    box = (0, 0, portrait.shape[1], portrait.shape[0])
    in_front = _forearms_in_front(moved, placement, box, moved.mask_in_box(box), painted) > 0
    # Before: visibility 0.2 < 0.6, so nothing was kept in front.
    assert in_front[band].mean() > 0.7


def test_the_orange_suit_sleeve_is_not_taken_for_a_forearm(portrait, person, tshirt_keypoints):
    moved = _uncertain_forearm(person, np.array([140.0, 760.0]), np.array([380.0, 820.0]))
    placement = place_garment(moved, tshirt_keypoints)
    box = (0, 0, portrait.shape[1], portrait.shape[0])
    in_front = _forearms_in_front(moved, placement, box, moved.mask_in_box(box), portrait)
    assert in_front.sum() < 0.02 * 60 * 250


@pytest.mark.parametrize(
    "half_widths", [(0.46, 0.36, 0.44), (0.34, 0.27, 0.30)], ids=["average", "slim"]
)
def test_the_garment_is_no_wider_than_the_torso(person, tshirt_keypoints, half_widths):
    # The slim torso is 0.54-0.6 shoulder widths wide. Before: floors of 0.68-0.88 shoulder widths
    # made the same t-shirt 1.35 times as wide as the slim torso at the waist.
    drawn = _drawn_person(person, half_widths)
    placement = place_garment(drawn, tshirt_keypoints)
    centre_x = (drawn.points[11][0] + drawn.points[12][0]) / 2
    sides = placement.body.person_points[7 : 7 + 2 * (len(SIDE_ROWS) - 1)]
    for left, right in zip(sides[::2], sides[1::2], strict=True):
        row = (left[1] + right[1]) / 2
        if row > drawn.mask_small.shape[0] / drawn.mask_scale:
            continue
        inside = (
            np.flatnonzero(drawn.mask_small[int(row * drawn.mask_scale)] > 0.5) / drawn.mask_scale
        )
        torso = inside[np.abs(inside - centre_x) < 0.58 * placement.shoulder_width]
        garment_width = float(np.dot(right - left, placement.across))
        assert garment_width <= 1.15 * (torso.max() - torso.min()), (
            row,
            garment_width,
            torso.max() - torso.min(),
        )


@pytest.mark.parametrize("chin_height", [0.12, 0.2, 0.35])
def test_the_collar_stays_below_a_low_chin(person, tshirt_keypoints, chin_height):
    # A bowed head or raised shoulders bring the chin (the face box's lower edge) within
    # chin_height shoulder widths of the shoulder line. Before: the collar sat 0.22 shoulder
    # widths above that line whatever the chin did, so on the chin or above it.
    shoulders_mid = (person.points[11] + person.points[12]) / 2
    chin_y = shoulders_mid[1] - chin_height * person.shoulder_width
    fx, _, fw, fh = person.face.box
    lowered = replace(
        person,
        face=Face(np.array([fx, chin_y - fh, fw, fh]), person.face.score, person.face.keypoints),
    )
    placement = place_garment(lowered, tshirt_keypoints)
    collar_top = placement.body.person_points[:3, 1].min()  # the collar's two tips and its middle
    assert collar_top > chin_y + 0.15 * chin_height * person.shoulder_width, (collar_top, chin_y)

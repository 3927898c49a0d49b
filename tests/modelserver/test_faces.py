"""Tests of FaceKeeper: the person's own face goes back into a result that kept the head in
place, softly and from forehead to chin only, and nothing is pasted when there is no face,
several faces, or a head that moved.

The "results" are made from the real photos in tests/engine/photos (Apache-2.0, see the
NOTICE there): the person photo with its face altered, recoloured or shifted, as a model
might return it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tryon.engine.models import DEFAULT_MODELS_DIR, FACE_DETECTION
from tryon.modelserver.faces import FaceKeeper

ENGINE_TESTS = Path(__file__).resolve().parent.parent / "engine"
PHOTOS = ENGINE_TESTS / "photos"
PHOTO_NAMES = ["frontal-man-black-tee.webp", "seated-man-white-tee.webp"]


@pytest.fixture(scope="module")
def keeper() -> FaceKeeper:
    return FaceKeeper(DEFAULT_MODELS_DIR)


def photo(name: str) -> np.ndarray:
    with Image.open(PHOTOS / name) as image:
        return np.asarray(image.convert("RGB")).copy()


def face_box(keeper: FaceKeeper, rgb: np.ndarray) -> tuple[int, int, int, int]:
    """The face box keep_face reports for this person photo, in whole pixels."""
    _, info = keeper.keep_face(Image.fromarray(rgb), Image.fromarray(rgb))
    x, y, w, h = info["face"]["box"]
    return round(x), round(y), round(w), round(h)


def face_core(box) -> tuple[slice, slice]:
    """Eyes, nose and mouth: well inside the blended ellipse."""
    x, y, w, h = box
    return slice(y + h // 4, y + 3 * h // 4), slice(x + w // 3, x + 2 * w // 3)


def far_from_face(rgb_shape, box) -> np.ndarray:
    """Pixels more than one face width from the face box's centre."""
    x, y, w, h = box
    ys, xs = np.mgrid[0 : rgb_shape[0], 0 : rgb_shape[1]]
    return np.hypot(xs - (x + w / 2), ys - (y + h / 2)) > w


def shifted(rgb: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The picture moved right by dx and down by dy, edges repeated."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    height, width = rgb.shape[:2]
    return cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def keep(keeper, result: np.ndarray, person: np.ndarray):
    out, info = keeper.keep_face(Image.fromarray(result), Image.fromarray(person))
    assert out.size == (person.shape[1], person.shape[0]) and out.mode == "RGB"
    return np.asarray(out), info


@pytest.mark.parametrize("name", PHOTO_NAMES)
def test_an_altered_face_gets_the_persons_face_back(keeper, name):
    person = photo(name)
    box = face_box(keeper, person)
    x, y, w, h = box
    rng = np.random.default_rng(7)
    altered = person.astype(np.float32)
    altered[y : y + h, x : x + w] += rng.normal(0, 25, (h, w, 3)) + (45, -10, -35)
    result = np.clip(altered, 0, 255).astype(np.uint8)

    out, info = keep(keeper, result, person)

    assert info["kept"] is True and info["reason"] == "kept"
    core = face_core(box)
    assert np.abs(result[core].astype(int) - person[core]).mean() > 20  # it was altered
    assert np.abs(out[core].astype(int) - person[core]).max() <= 2
    far = far_from_face(person.shape, box)
    assert np.array_equal(out[far], result[far])


@pytest.mark.parametrize("name", PHOTO_NAMES)
def test_the_seam_is_soft_and_stops_above_the_neck(keeper, name):
    # The model recoloured the whole picture; the share of the person's pixels in the output,
    # recovered from one channel, is the blend mask itself.
    person = photo(name)
    box = face_box(keeper, person)
    result = np.clip(person.astype(int) + (0, 70, 0), 0, 255).astype(np.uint8)
    usable = person[..., 1] < 185  # where the shift did not clip

    out, info = keep(keeper, result, person)

    assert info["kept"] is True
    share = (result[..., 1].astype(float) - out[..., 1]) / 70.0
    share[~usable] = np.nan
    x, y, w, h = box
    assert np.nanmin(share[face_core(box)]) > 0.97
    # Down the middle of the face, forehead (just above the brows, at the box's top) to chin,
    # the pixels are the person's (a narrow strip: the seated man's head is tilted).
    centre_strip = slice(x + w // 2 - 2, x + w // 2 + 3)
    assert np.nanmin(share[y + h // 20 : y + 85 * h // 100, centre_strip]) > 0.95
    rows = share[y - h // 2 : y + 3 * h // 2, x - w // 2 : x + 3 * w // 2]
    steps = np.concatenate([np.diff(rows, axis=0).ravel(), np.diff(rows, axis=1).ravel()])
    assert np.nanmax(np.abs(steps)) < 0.15  # a hard-edged mask would step by 1
    assert np.nanmax(rows) - np.nanmin(rows) > 0.97  # ... and it does go from 0 to 1
    # The neck, a fifth of a face below the box (under the chin), keeps the model's pixels.
    neck = out[y + h + h // 5 : y + h + h // 3, x + w // 3 : x + 2 * w // 3]
    assert np.array_equal(
        neck, result[y + h + h // 5 : y + h + h // 3, x + w // 3 : x + 2 * w // 3]
    )


@pytest.mark.parametrize("dx, dy", [(45, 0), (0, 40), (14, 6)])
def test_a_result_whose_head_moved_is_left_unchanged(keeper, dx, dy):
    person = photo("frontal-man-black-tee.webp")
    result = shifted(person, dx, dy)

    out, info = keep(keeper, result, person)

    assert info["kept"] is False and info["reason"] == "not_aligned"
    assert np.array_equal(out, result)


@pytest.mark.parametrize("result_kind", ["noise", "flat colour"])
def test_a_result_with_no_face_where_the_persons_was_is_left_unchanged(keeper, result_kind):
    # What the tiny-random model returns, or a model that lost the person altogether.
    person = photo("seated-man-white-tee.webp")
    if result_kind == "noise":
        result = np.random.default_rng(3).integers(0, 256, person.shape, dtype=np.uint8)
    else:
        result = np.full_like(person, 128)

    out, info = keep(keeper, result, person)

    assert info["kept"] is False and info["reason"] == "not_aligned"
    assert "no face in the result" in info["message"]
    assert np.array_equal(out, result)


def test_a_small_shift_is_followed_so_the_face_lands_on_the_head(keeper):
    person = photo("frontal-man-black-tee.webp")
    box = face_box(keeper, person)
    moved = shifted(person, 4, 3)
    x, y, w, h = box
    result = moved.copy()
    result[y : y + h, x : x + w] = np.clip(result[y : y + h, x : x + w] * 0.6 + 60, 0, 255)

    out, info = keep(keeper, result, person)

    assert info["kept"] is True
    assert np.allclose(info["shift_px"], (4, 3), atol=0.5)
    core = face_core(box)
    assert np.abs(out[core].astype(int) - moved[core]).mean() < 2


@pytest.mark.parametrize("picture", ["flat colour", "plain garment", "garment with a round logo"])
def test_a_picture_without_a_face_is_left_unchanged(keeper, picture):
    if picture == "flat colour":
        person = np.full((1024, 768, 3), (180, 140, 120), np.uint8)
    else:
        # The logo (a ring around "OPEN") is a face to the detector at a score of about 0.7.
        print_kind = "logo" if "logo" in picture else None
        person = cv2.cvtColor(garment_photos().tshirt(print_kind=print_kind), cv2.COLOR_BGR2RGB)
    result = np.clip(person.astype(int) + 20, 0, 255).astype(np.uint8)

    out, info = keep(keeper, result, person)

    assert info["kept"] is False and info["reason"] == "no_face"
    assert np.array_equal(out, result)


def test_two_people_are_left_unchanged(keeper):
    person = np.concatenate([photo("frontal-man-black-tee.webp")] * 2, axis=1)
    result = np.clip(person.astype(int) - 30, 0, 255).astype(np.uint8)

    out, info = keep(keeper, result, person)

    assert info["kept"] is False and info["reason"] == "several_faces"
    assert len(info["faces"]) == 2
    assert np.array_equal(out, result)


def test_a_small_face_in_a_full_length_photo_is_found(keeper):
    # The whole-picture pass sees this face at about 8 px; the half-size tiles find it.
    small = cv2.resize(photo("frontal-man-black-tee.webp"), (288, 432), cv2.INTER_AREA)
    person = np.full((1024, 768, 3), 232, np.uint8)
    person[40 : 40 + 432, 240 : 240 + 288] = small
    result = np.clip(person.astype(int) + (0, 0, 40), 0, 255).astype(np.uint8)

    out, info = keep(keeper, result, person)

    assert info["kept"] is True
    x, y, w, h = (round(v) for v in info["face"]["box"])
    assert 240 + 100 < x + w / 2 < 240 + 190 and 40 + 60 < y + h / 2 < 40 + 130
    core = face_core((x, y, w, h))
    assert np.abs(out[core].astype(int) - person[core]).max() <= 2


def test_sizes_and_modes_must_match(keeper):
    person = Image.fromarray(photo("frontal-man-black-tee.webp"))
    with pytest.raises(ValueError, match="size"):
        keeper.keep_face(person.resize((288, 432)), person)
    with pytest.raises(ValueError, match="RGB"):
        keeper.keep_face(person.convert("L"), person)


def test_a_missing_or_corrupt_detector_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="missing; run `python -m tryon.engine.fetch_models`"):
        FaceKeeper(tmp_path)
    (tmp_path / FACE_DETECTION.name).write_bytes(b"not a model")
    with pytest.raises(ValueError, match="corrupt"):
        FaceKeeper(tmp_path)


def garment_photos():
    """The engine tests' synthetic garment generator, loaded by path like their conftest."""
    spec = importlib.util.spec_from_file_location(
        "faces_garment_photos", ENGINE_TESTS / "garment_photos.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

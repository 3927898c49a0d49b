"""Put the person's own face back into a generated try-on picture.

Editing models redraw the whole picture, face included, and a face redrawn is a face that may
drift: the person no longer quite looks like themselves. Only the garment should change, so
after generation we blend the person photo's own face pixels back in, through a soft ellipse
from forehead to chin (not the neck: a new garment may change the neckline).

Pasting is only safe where the model kept the head where it was: a face pasted onto a head
that moved makes a ghost. So the keeper looks for the face again in the result and measures
how far it moved; a small shift is followed, a larger one (or no face there) leaves the result
as the model made it. It also leaves the result alone when the person photo has no face or
several. Every decision is returned in `info`, so the caller can log it.

It uses the local engine's BlazeFace detector (tryon/engine/models/), run by OpenCV: no torch,
about 15 ms for a 1 MP picture on the shared 2-core build machine (40 ms for a small face).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tryon.engine.models import FACE_DETECTION, FETCH_COMMAND, sha256_of
from tryon.engine.networks import Face, FaceDetector

# Above the engine's 0.6: a round logo on a T-shirt scores 0.68, real faces here 0.9 and up,
# and a face missed only costs a paste not made.
MIN_FACE_SCORE = 0.75
WEAK_FACE_SCORE = 0.5  # the detector's floor: enough to look again closer
REFINE_CROP = 3.0  # a face re-detected in a crop this many face widths wide fills ~1/3 of it
MIN_CROP = 16  # pixels: a crop smaller than this holds no face worth keeping
SAME_FACE_DISTANCE = 0.5  # centres closer than this many widths are one face seen twice
# The result's face is "at the same place" when its centre is within this many widths of the
# person's and its width within these ratios; the phase correlation then measures the shift.
MAX_CENTRE_OFFSET = 0.25
WIDTH_RATIOS = (0.8, 1.25)
MAX_SHIFT = 0.08  # of the face width: a shift we follow; beyond it we do not paste
CORRELATION_CROP = 2.0  # face widths: the face with hair, ears and a little background
# The ellipse in face-box units (BlazeFace's box runs from the eyebrows to the chin and ear to
# ear): centred a little above the box centre so it takes in the forehead, its lower edge
# just under the chin; the outer FEATHER of its radius fades from the person to the result.
ELLIPSE_RAISE = 0.08
ELLIPSE_HALF_WIDTH = 0.46
ELLIPSE_HALF_HEIGHT = 0.65
FEATHER = 0.3


@dataclass(frozen=True)
class FaceInPhoto:
    """Where the face is: its centre, width and height in pixels and its roll in radians."""

    centre: np.ndarray
    width: float
    height: float
    roll: float
    score: float

    def to_info(self) -> dict:
        x, y = self.centre - np.array([self.width, self.height]) / 2
        return {
            "box": [round(float(v), 1) for v in (x, y, self.width, self.height)],
            "score": round(self.score, 3),
        }


class FaceKeeper:
    """Keeps the person's face in try-on results; one detector, used by one thread at a time
    (a cv2.dnn net is not thread-safe, so calls are serialised by the keeper's own lock)."""

    def __init__(self, models_dir: Path):
        self._detector = FaceDetector(_read_face_model(Path(models_dir)))
        self._lock = threading.Lock()

    def keep_face(self, result: Image.Image, person: Image.Image) -> tuple[Image.Image, dict]:
        """The result with the person's face blended back in, or the result unchanged; `info`
        says which (`kept`) and why (`reason`: kept, no_face, several_faces, not_aligned)."""
        _check_same_rgb_size(result, person)
        person_rgb, result_rgb = np.asarray(person), np.asarray(result)
        with self._lock:
            faces = self._find_faces(person_rgb)
            if len(faces) != 1:
                return result, _count_problem(faces)
            face = faces[0]
            shift, why_not = self._measure_shift(person_rgb, result_rgb, face)
        info = {"face": face.to_info()}
        if why_not:
            return result, {**info, "kept": False, "reason": "not_aligned", "message": why_not}
        kept = _blend_face(result_rgb, person_rgb, face, shift)
        message = "the person's own face was blended back in"
        shift_px = [round(float(v), 1) for v in shift]
        return Image.fromarray(kept), {
            **info,
            "kept": True,
            "reason": "kept",
            "message": message,
            "shift_px": shift_px,
        }

    def _find_faces(self, rgb: np.ndarray) -> list[FaceInPhoto]:
        """The confident faces, each located precisely. The detector sees the picture at
        128 x 128, so when it finds no face there it looks again at half-size tiles (small
        faces); every face is then measured again in a crop around it (the first box is
        coarse, and a weak first find may turn out to be no face)."""
        faces = self._refined(rgb, self._detector.run(rgb, min_score=WEAK_FACE_SCORE))
        if not faces:
            faces = self._refined(rgb, self._detect_in_tiles(rgb))
        return faces

    def _refined(self, rgb: np.ndarray, rough: list[Face]) -> list[FaceInPhoto]:
        refined = [self._refine(rgb, face) for face in rough]
        return _distinct([face for face in refined if face and face.score >= MIN_FACE_SCORE])

    def _detect_in_tiles(self, rgb: np.ndarray) -> list[Face]:
        """Faces found in overlapping squares half the picture's longer side."""
        height, width = rgb.shape[:2]
        side = max(16, max(height, width) // 2)
        faces = []
        for y0 in _tile_starts(height, side):
            for x0 in _tile_starts(width, side):
                tile = rgb[y0 : y0 + side, x0 : x0 + side]
                found = self._detector.run(tile, min_score=WEAK_FACE_SCORE)
                faces += [_moved(face, x0, y0) for face in found]
        return faces

    def _refine(self, rgb: np.ndarray, rough: Face) -> FaceInPhoto | None:
        """The face nearest the rough one, detected again in a crop around it."""
        found = self._detect_around(rgb, rough.centre, REFINE_CROP * rough.width)
        if not found:
            return None
        nearest = min(found, key=lambda face: np.linalg.norm(face.centre - rough.centre))
        if np.linalg.norm(nearest.centre - rough.centre) > SAME_FACE_DISTANCE * rough.width:
            return None
        return _to_face_in_photo(nearest)

    def _detect_around(self, rgb: np.ndarray, centre: np.ndarray, side: float) -> list[Face]:
        """Faces in a square crop around `centre`, in the whole picture's pixels."""
        x0, y0, crop = _crop_around(rgb, centre, side)
        if min(crop.shape[:2]) < MIN_CROP:
            return []
        return [_moved(face, x0, y0) for face in self._detector.run(crop, WEAK_FACE_SCORE)]

    def _measure_shift(
        self, person_rgb: np.ndarray, result_rgb: np.ndarray, face: FaceInPhoto
    ) -> tuple[np.ndarray, str | None]:
        """How far the head moved from the person photo to the result (pixels), or why the
        two cannot be lined up."""
        found = self._detect_around(result_rgb, face.centre, REFINE_CROP * face.width)
        nearby = [f for f in map(_to_face_in_photo, found) if _same_place(face, f)]
        if not nearby:
            return np.zeros(2), "no face in the result where the person's face is"
        shift = _phase_shift(person_rgb, result_rgb, face)
        if np.linalg.norm(shift) > max(2.0, MAX_SHIFT * face.width):
            return shift, f"the head moved by {np.linalg.norm(shift):.0f} px in the result"
        return shift, None


def _read_face_model(models_dir: Path) -> bytes:
    """The face detector's file, checked against its sha256 (only this one is needed)."""
    path = models_dir / FACE_DETECTION.name
    if not path.is_file():
        raise ValueError(f"model file {path} is missing; run `{FETCH_COMMAND}`")
    data = path.read_bytes()
    if sha256_of(data) != FACE_DETECTION.sha256:
        raise ValueError(f"model file {path} is corrupt (sha256 mismatch); run `{FETCH_COMMAND}`")
    return data


def _check_same_rgb_size(result: Image.Image, person: Image.Image) -> None:
    if result.mode != "RGB" or person.mode != "RGB":
        raise ValueError(f"RGB pictures expected, got {result.mode} and {person.mode}")
    if result.size != person.size:
        raise ValueError(
            f"the result ({result.size}) must already be scaled to the person photo's size "
            f"({person.size})"
        )


def _count_problem(faces: list[FaceInPhoto]) -> dict:
    if not faces:
        return {"kept": False, "reason": "no_face", "message": "no face in the person photo"}
    return {
        "kept": False,
        "reason": "several_faces",
        "message": f"{len(faces)} faces in the person photo: which one is the person's is unsure",
        "faces": [face.to_info() for face in faces],
    }


def _tile_starts(length: int, side: int) -> list[int]:
    """Starts of tiles of `side` covering `length` with half-tile overlaps."""
    if length <= side:
        return [0]
    starts = list(range(0, length - side, side // 2))
    return starts + [length - side]


def _crop_around(rgb: np.ndarray, centre: np.ndarray, side: float) -> tuple[int, int, np.ndarray]:
    """A square crop (clipped to the picture) and its top-left corner."""
    height, width = rgb.shape[:2]
    half = side / 2
    x0, y0 = max(0, int(centre[0] - half)), max(0, int(centre[1] - half))
    x1, y1 = min(width, int(centre[0] + half)), min(height, int(centre[1] + half))
    return x0, y0, rgb[y0:y1, x0:x1]


def _moved(face: Face, x0: int, y0: int) -> Face:
    offset = np.array([x0, y0], np.float64)
    return Face(np.r_[face.box[:2] + offset, face.box[2:]], face.score, face.keypoints + offset)


def _to_face_in_photo(face: Face) -> FaceInPhoto:
    # Roll from the eye line (keypoints 0 and 1: the person's right and left eye).
    right_eye, left_eye = face.keypoints[0], face.keypoints[1]
    roll = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
    return FaceInPhoto(face.centre, float(face.box[2]), float(face.box[3]), roll, face.score)


def _distinct(faces: list[FaceInPhoto]) -> list[FaceInPhoto]:
    """One entry per face: tiles overlap, so a face may have been found twice."""
    kept: list[FaceInPhoto] = []
    for face in sorted(faces, key=lambda f: -f.score):
        if all(np.linalg.norm(face.centre - k.centre) > SAME_FACE_DISTANCE * k.width for k in kept):
            kept.append(face)
    return kept


def _same_place(person_face: FaceInPhoto, result_face: FaceInPhoto) -> bool:
    offset = np.linalg.norm(result_face.centre - person_face.centre)
    ratio = result_face.width / person_face.width
    low, high = WIDTH_RATIOS
    return offset <= MAX_CENTRE_OFFSET * person_face.width and low <= ratio <= high


def _phase_shift(person_rgb: np.ndarray, result_rgb: np.ndarray, face: FaceInPhoto) -> np.ndarray:
    """The translation (dx, dy) from the person's head to the result's, by phase correlation
    of the grey levels around the face: sub-pixel, and blind to colour and brightness."""
    x0, y0, person_crop = _crop_around(person_rgb, face.centre, CORRELATION_CROP * face.width)
    height, width = person_crop.shape[:2]
    result_crop = result_rgb[y0 : y0 + height, x0 : x0 + width]
    person_grey = cv2.cvtColor(person_crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    result_grey = cv2.cvtColor(result_crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    window = cv2.createHanningWindow((width, height), cv2.CV_32F)
    (dx, dy), _response = cv2.phaseCorrelate(person_grey, result_grey, window)
    # Whole pixels: the person's own pixels go back unresampled (a sub-pixel move would
    # blur them, and half a pixel of misregistration does not show).
    return np.round([dx, dy])


def _blend_face(
    result_rgb: np.ndarray, person_rgb: np.ndarray, face: FaceInPhoto, shift: np.ndarray
) -> np.ndarray:
    """The result with the person's face, moved by `shift` onto the result's head, blended
    in through the feathered ellipse. Only the ellipse's bounding square is touched."""
    centre = face.centre + shift
    reach = (ELLIPSE_RAISE + ELLIPSE_HALF_HEIGHT) * max(face.width, face.height)
    x0, y0, region = _crop_around(result_rgb, centre, 2 * reach + 4)
    height, width = region.shape[:2]
    # The person's pixels that land on this region once moved by `shift` (whole pixels).
    moved = np.float32([[1, 0, x0 - shift[0]], [0, 1, y0 - shift[1]]])
    person_region = cv2.warpAffine(
        person_rgb,
        moved,
        (width, height),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,  # a whole-pixel move: exact copies
        borderMode=cv2.BORDER_REPLICATE,
    )
    weight = _ellipse_weight(width, height, centre - (x0, y0), face)[..., None]
    blended = region + weight * (person_region.astype(np.float32) - region)
    out = result_rgb.copy()
    out[y0 : y0 + height, x0 : x0 + width] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def _ellipse_weight(width: int, height: int, centre: np.ndarray, face: FaceInPhoto) -> np.ndarray:
    """1 inside the face, easing to 0 at the ellipse's edge (smoothstep: no step, no kink)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cos, sin = math.cos(face.roll), math.sin(face.roll)
    # Coordinates along the face's own axes (x: ear to ear, y: forehead to chin).
    dx, dy = xs - centre[0], ys - centre[1]
    along_x = dx * cos + dy * sin
    along_y = -dx * sin + dy * cos + ELLIPSE_RAISE * face.height
    radius = np.hypot(
        along_x / (ELLIPSE_HALF_WIDTH * face.width), along_y / (ELLIPSE_HALF_HEIGHT * face.height)
    )
    t = np.clip((1.0 - radius) / FEATHER, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)

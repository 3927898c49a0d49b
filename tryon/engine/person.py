"""Find the person in the photo, decide whether they can be dressed, and describe their body.

The pose-landmark model alone is not a person detector (it reports 0.98 presence
on a cat photo), so a photo is only accepted when independent signals agree: a
face detector finds a face where the pose puts the nose, and the pose model's
person mask agrees with the separate selfie-segmentation mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import PersonImageError
from .imaging import downscale_to, ellipse_kernel, mask_iou
from .networks import Face, ModelSet, PoseEstimate, SquareRoi

ANALYSIS_MAX_SIDE = 512  # the models take 128-256 px inputs; more resolution only costs time

# MediaPipe pose landmark indices (the person's own left/right).
NOSE, LEFT_EAR, RIGHT_EAR = 0, 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_HIP, RIGHT_HIP = 23, 24
BODY_CENTRE, BODY_TOP = 33, 34  # auxiliary landmarks MediaPipe uses to place the next ROI

MIN_PRESENCE = 0.5
CONFIDENT_PRESENCE = 0.9
MIN_FACE_SCORE = 0.6
MIN_MASK_AGREEMENT = 0.5
MIN_SHOULDER_VISIBILITY = 0.5
MIN_SHOULDER_SHARE = 0.08  # shoulder width / longer image side
MIN_SHOULDER_PIXELS = 40
FRAME_MARGIN = 0.02  # shoulders may sit this far (share of the image) outside the frame
MIN_EAR_RATIO = 0.5  # ear-to-ear distance / face width; a profile collapses it
MIN_SHOULDER_TO_FACE = 1.2


@dataclass
class PersonAnalysis:
    """What the later stages need to know about the person, in full-image pixels."""

    points: np.ndarray  # (39, 2) pose landmarks
    visibility: np.ndarray  # (39,)
    face: Face
    mask_small: np.ndarray  # float32 person probability at analysis resolution
    mask_scale: float  # analysis resolution / full resolution
    info: dict = field(default_factory=dict)

    @property
    def shoulder_width(self) -> float:
        return float(np.linalg.norm(self.points[LEFT_SHOULDER] - self.points[RIGHT_SHOULDER]))

    def silhouette_reach(
        self, start: np.ndarray, direction: np.ndarray, max_distance: float
    ) -> float:
        """How far (full-resolution pixels) the person mask goes from start along direction.

        Walks pixel by pixel at analysis resolution until the mask drops below one half or
        the image ends; gives up at max_distance. Used to measure torso and arm widths.
        """
        height, width = self.mask_small.shape
        steps = np.arange(0.0, max_distance * self.mask_scale + 1.0)
        xs = np.round(start[0] * self.mask_scale + steps * direction[0]).astype(int)
        ys = np.round(start[1] * self.mask_scale + steps * direction[1]).astype(int)
        inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
        inside[inside] = self.mask_small[ys[inside], xs[inside]] > 0.5
        outside = np.flatnonzero(~inside)
        reach = steps[outside[0]] if len(outside) else steps[-1]
        return float(min(reach / self.mask_scale, max_distance))

    def mask_in_box(self, box: tuple[int, int, int, int], grow: float = 0.0) -> np.ndarray:
        """Person probability over box (x0, y0, x1, y1) at full resolution.

        grow > 0 first dilates the silhouette by that many full-resolution pixels; the
        dilation runs at analysis resolution, where it is cheaper.
        """
        mask = self.mask_small
        if grow > 0:
            inside = (mask > 0.5).astype(np.uint8)
            grown = cv2.dilate(inside, ellipse_kernel(grow * self.mask_scale)).astype(np.float32)
            mask = cv2.GaussianBlur(grown, (0, 0), max(0.5, 1.5 * self.mask_scale))
        x0, y0, x1, y1 = box
        # Map box pixel centres onto analysis pixels, then resample just the box.
        s = self.mask_scale
        matrix = np.float32([[s, 0, (x0 + 0.5) * s - 0.5], [0, s, (y0 + 0.5) * s - 0.5]])
        return cv2.warpAffine(
            mask,
            matrix,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )


def analyse_person(bgr: np.ndarray, models: ModelSet) -> PersonAnalysis:
    small, scale = downscale_to(bgr, ANALYSIS_MAX_SIDE)
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    height, width = rgb.shape[:2]
    faces = models.face.run(rgb, min_score=MIN_FACE_SCORE)
    pose = _estimate_pose(models, rgb, faces)
    info = {"pose_presence": round(pose.presence, 3)}
    if pose.presence < MIN_PRESENCE:
        raise PersonImageError(
            _no_person(f"the body-pose model is not confident (presence {pose.presence:.2f})")
        )

    face = _face_at_nose(faces, pose.points[NOSE]) or _face_near_head(models, rgb, pose)
    if face is None:
        raise PersonImageError(_no_person("no face was found where the body pose puts the head"))
    info["face_score"] = round(face.score, 3)

    _check_shoulders(pose, width, height, info)
    _check_frontal(pose, face, info)
    mask = _person_mask(models, rgb, pose, info)
    _check_torso_covered(pose, mask, info)

    return PersonAnalysis(
        points=pose.points / scale,
        visibility=pose.visibility,
        face=Face(face.box / scale, face.score, face.keypoints / scale),
        mask_small=mask,
        mask_scale=scale,
        info=info,
    )


def _no_person(detail: str) -> str:
    return (
        f"no person found in the person image ({detail}); send a frontal photo of one person, "
        "from the head to at least the hips"
    )


def _estimate_pose(models: ModelSet, rgb: np.ndarray, faces: list[Face]) -> PoseEstimate:
    """Run the landmark model on a few candidate crops, each refined once, and keep the best."""
    best = None
    for roi in _candidate_rois(rgb, faces):
        estimate = models.pose.run(rgb, roi)
        refined_roi = _roi_from_alignment_points(estimate)
        if refined_roi is not None:
            refined = models.pose.run(rgb, refined_roi)
            if refined.presence >= estimate.presence:
                estimate = refined
        if best is None or estimate.presence > best.presence:
            best = estimate
        if best.presence >= CONFIDENT_PRESENCE:
            break
    return best


def _candidate_rois(rgb: np.ndarray, faces: list[Face]) -> list[SquareRoi]:
    height, width = rgb.shape[:2]
    rois = []
    if faces:
        # A standing person's body centre is about 3.5 face heights below the face.
        cx, cy = faces[0].centre
        face_height = faces[0].box[3]
        rois.append(SquareRoi(cx, cy + 3.5 * face_height, 9 * face_height))
    rois.append(SquareRoi(width / 2, height * 0.75, max(height, width) * 1.6))
    rois.append(SquareRoi(width / 2, height / 2, max(height, width) * 1.25))
    return rois


def _roi_from_alignment_points(estimate: PoseEstimate) -> SquareRoi | None:
    """MediaPipe's tracking ROI: centred on landmark 33, side 2.5x the distance to 34,
    upright along 33->34."""
    centre, top = estimate.points[BODY_CENTRE], estimate.points[BODY_TOP]
    distance = float(np.linalg.norm(top - centre))
    if distance < 10:
        return None
    # The crop is rotated so the centre->top direction points straight up.
    angle = np.degrees(np.pi / 2 - np.arctan2(-(top[1] - centre[1]), top[0] - centre[0]))
    angle = (angle + 180) % 360 - 180
    return SquareRoi(centre[0], centre[1], 2.5 * distance, -angle)


def _face_at_nose(faces: list[Face], nose: np.ndarray) -> Face | None:
    for face in faces:
        x, y, w, h = face.box
        if x - 0.3 * w <= nose[0] <= x + 1.3 * w and y - 0.3 * h <= nose[1] <= y + 1.3 * h:
            return face
    return None


def _face_near_head(models: ModelSet, rgb: np.ndarray, pose: PoseEstimate) -> Face | None:
    """Look again on a crop around the head: the detector misses faces smaller than ~1/10
    of the image."""
    height, width = rgb.shape[:2]
    shoulder_width = np.linalg.norm(pose.points[LEFT_SHOULDER] - pose.points[RIGHT_SHOULDER])
    ear_distance = np.linalg.norm(pose.points[LEFT_EAR] - pose.points[RIGHT_EAR])
    half = max(1.5 * ear_distance, 0.6 * shoulder_width, 16)
    nose = pose.points[NOSE]
    x0, y0 = int(max(0, nose[0] - half)), int(max(0, nose[1] - half))
    x1, y1 = int(min(width, nose[0] + half)), int(min(height, nose[1] + half))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    offset = np.array([x0, y0], np.float64)
    for face in models.face.run(rgb[y0:y1, x0:x1], min_score=MIN_FACE_SCORE):
        moved = Face(
            np.r_[face.box[:2] + offset, face.box[2:]], face.score, face.keypoints + offset
        )
        if _face_at_nose([moved], nose):
            return moved
    return None


def _check_shoulders(pose: PoseEstimate, width: int, height: int, info: dict) -> None:
    left, right = pose.points[LEFT_SHOULDER], pose.points[RIGHT_SHOULDER]
    visibility = min(pose.visibility[LEFT_SHOULDER], pose.visibility[RIGHT_SHOULDER])
    info["shoulder_visibility"] = round(float(visibility), 3)
    margin_x, margin_y = FRAME_MARGIN * width, FRAME_MARGIN * height
    in_frame = all(
        -margin_x <= p[0] <= width + margin_x and -margin_y <= p[1] <= height + margin_y
        for p in (left, right)
    )
    if visibility < MIN_SHOULDER_VISIBILITY or not in_frame:
        raise PersonImageError(
            "both shoulders must be visible inside the person image; "
            "send a photo framed from the head to at least the hips"
        )
    shoulder_width = float(np.linalg.norm(left - right))
    info["shoulder_share"] = round(shoulder_width / max(width, height), 3)
    if (
        shoulder_width < MIN_SHOULDER_SHARE * max(width, height)
        or shoulder_width < MIN_SHOULDER_PIXELS
    ):
        raise PersonImageError(
            "the person is too small in the person image; send a photo where the "
            "person fills most of the frame (head to hips or knees)"
        )


def _check_frontal(pose: PoseEstimate, face: Face, info: dict) -> None:
    left, right = pose.points[LEFT_SHOULDER], pose.points[RIGHT_SHOULDER]
    shoulder_width = float(np.linalg.norm(left - right))
    ear_ratio = float(np.linalg.norm(pose.points[LEFT_EAR] - pose.points[RIGHT_EAR]) / face.width)
    shoulder_to_face = shoulder_width / face.width
    info.update(ear_ratio=round(ear_ratio, 3), shoulder_to_face=round(shoulder_to_face, 3))
    # Facing the camera, the person's left shoulder is on the image's right.
    facing = (left[0] - right[0]) >= 0.5 * shoulder_width
    if not facing or ear_ratio < MIN_EAR_RATIO:
        raise PersonImageError(
            "the person is not facing the camera; send a frontal photo "
            "(face and both shoulders towards the camera)"
        )
    if shoulder_to_face < MIN_SHOULDER_TO_FACE:
        raise PersonImageError(
            "the shoulders look too narrow for the face: the person is turned away "
            "or only the face is in frame; send a frontal photo from head to hips"
        )


def _person_mask(models: ModelSet, rgb: np.ndarray, pose: PoseEstimate, info: dict) -> np.ndarray:
    height, width = rgb.shape[:2]
    pose_mask = pose.mask(width, height)
    selfie = cv2.resize(models.selfie.run(rgb), (width, height), interpolation=cv2.INTER_LINEAR)
    agreement = mask_iou(pose_mask > 0.5, selfie > 0.5)
    info["mask_agreement"] = round(agreement, 3)
    if agreement < MIN_MASK_AGREEMENT:
        raise PersonImageError(
            _no_person(f"two person-segmentation models disagree (overlap {agreement:.2f})")
        )
    # The selfie model has sharper edges but also picks up objects; trust it only near the
    # pose mask.
    return np.maximum(pose_mask, selfie * (pose_mask > 0.2)).astype(np.float32)


def _check_torso_covered(pose: PoseEstimate, mask: np.ndarray, info: dict) -> None:
    height, width = mask.shape
    shoulders_mid = (pose.points[LEFT_SHOULDER] + pose.points[RIGHT_SHOULDER]) / 2
    hips_mid = (pose.points[LEFT_HIP] + pose.points[RIGHT_HIP]) / 2
    probes = [shoulders_mid * (1 - t) + hips_mid * t for t in (0.2, 0.4)]
    covered = np.mean(
        [
            mask[int(np.clip(p[1], 0, height - 1)), int(np.clip(p[0], 0, width - 1))] > 0.5
            for p in probes
        ]
    )
    info["torso_covered"] = float(covered)
    if covered < 0.5:
        raise PersonImageError(_no_person("the chest is not part of the person's silhouette"))

"""Runners for the three MediaPipe TFLite models, executed by OpenCV's dnn module.

A ``cv2.dnn.Net`` keeps its input and intermediate blobs inside the object, so
two threads calling ``setInput``/``forward`` on the same net corrupt each
other's results (measured: 60 of 60 concurrent calls returned wrong numbers).
Each ``ModelSet`` therefore belongs to one thread; the engine keeps one per
thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .models import FACE_DETECTION, POSE_LANDMARK, SELFIE_SEGMENTATION

POSE_INPUT_SIZE = 256
SELFIE_INPUT_SIZE = 256
FACE_INPUT_SIZE = 128
POSE_LANDMARK_COUNT = 39  # 33 body landmarks + 6 auxiliary ones (33/34 give the body ROI)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def _to_nchw(rgb_float: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb_float.transpose(2, 0, 1)[None])


@dataclass(frozen=True)
class SquareRoi:
    """A rotated square crop of the image: centre, side length in pixels, rotation in degrees."""

    cx: float
    cy: float
    side: float
    angle_deg: float = 0.0

    def to_crop_matrix(self, crop_size: int) -> np.ndarray:
        """Affine matrix mapping image pixels into the crop_size x crop_size crop."""
        matrix = cv2.getRotationMatrix2D((self.cx, self.cy), self.angle_deg, crop_size / self.side)
        matrix[0, 2] += crop_size / 2 - self.cx
        matrix[1, 2] += crop_size / 2 - self.cy
        return matrix


@dataclass
class Face:
    """A detected face: box (x, y, w, h) and six keypoints in image pixels.

    Keypoints are, in order: right eye, left eye, nose tip, mouth, right ear, left ear
    (the person's right and left).
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray

    @property
    def width(self) -> float:
        return float(self.box[2])

    @property
    def centre(self) -> np.ndarray:
        return self.box[:2] + self.box[2:] / 2


@dataclass
class PoseEstimate:
    """Pose landmarks of one person in image pixels, and the model's own confidence."""

    points: np.ndarray  # (39, 2)
    visibility: np.ndarray  # (39,) probability each landmark is visible
    presence: float  # probability that a person is inside the ROI
    segmentation_logits: np.ndarray  # (256, 256) in ROI coordinates
    image_from_roi: np.ndarray  # 2x3 affine, ROI pixels -> image pixels

    def mask(self, width: int, height: int, scale: float = 1.0) -> np.ndarray:
        """Person probability in [0, 1] for an image of (width, height), optionally scaled."""
        matrix = self.image_from_roi * np.array([[scale], [scale]])
        probability = sigmoid(self.segmentation_logits).astype(np.float32)
        return cv2.warpAffine(
            probability, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0
        )


class PoseLandmarker:
    def __init__(self, model_bytes: bytes):
        self._net = cv2.dnn.readNetFromTFLite(np.frombuffer(model_bytes, np.uint8))
        self._output_names = self._net.getUnconnectedOutLayersNames()

    def run(self, rgb: np.ndarray, roi: SquareRoi) -> PoseEstimate:
        crop_from_image = roi.to_crop_matrix(POSE_INPUT_SIZE)
        crop = cv2.warpAffine(
            rgb,
            crop_from_image,
            (POSE_INPUT_SIZE, POSE_INPUT_SIZE),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        self._net.setInput(_to_nchw(crop.astype(np.float32) / 255.0))
        outputs = dict(zip(self._output_names, self._net.forward(self._output_names), strict=True))
        landmarks = outputs["Identity"].reshape(POSE_LANDMARK_COUNT, 5)
        image_from_roi = cv2.invertAffineTransform(crop_from_image)
        points = landmarks[:, :2] @ image_from_roi[:, :2].T + image_from_roi[:, 2]
        return PoseEstimate(
            points=points.astype(np.float64),
            visibility=sigmoid(landmarks[:, 3]),
            presence=float(outputs["Identity_1"].ravel()[0]),
            segmentation_logits=outputs["Identity_2"]
            .reshape(POSE_INPUT_SIZE, POSE_INPUT_SIZE)
            .copy(),
            image_from_roi=image_from_roi,
        )


class SelfieSegmenter:
    def __init__(self, model_bytes: bytes):
        self._net = cv2.dnn.readNetFromTFLite(np.frombuffer(model_bytes, np.uint8))

    def run(self, rgb: np.ndarray) -> np.ndarray:
        """Person probability at the model's 256x256 resolution (the whole image, squashed)."""
        small = cv2.resize(
            rgb, (SELFIE_INPUT_SIZE, SELFIE_INPUT_SIZE), interpolation=cv2.INTER_AREA
        )
        self._net.setInput(_to_nchw(small.astype(np.float32) / 255.0))
        return self._net.forward().reshape(SELFIE_INPUT_SIZE, SELFIE_INPUT_SIZE).copy()


class FaceDetector:
    """BlazeFace short-range: finds faces that fill roughly 10-80 % of the (padded) image."""

    def __init__(self, model_bytes: bytes):
        self._net = cv2.dnn.readNetFromTFLite(np.frombuffer(model_bytes, np.uint8))
        self._output_names = self._net.getUnconnectedOutLayersNames()
        self._anchors = self._anchor_centres()

    @staticmethod
    def _anchor_centres() -> np.ndarray:
        # The short-range model's SSD anchors: a 16x16 grid with 2 anchors per cell
        # and an 8x8 grid with 6 per cell, 896 in all, each a unit square centre.
        centres = []
        for stride, per_cell in ((8, 2), (16, 6)):
            cells = FACE_INPUT_SIZE // stride
            ys, xs = np.mgrid[0:cells, 0:cells]
            grid = np.c_[(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells]
            centres.append(np.repeat(grid, per_cell, axis=0))
        return np.concatenate(centres).astype(np.float32)

    def run(self, rgb: np.ndarray, min_score: float = 0.5) -> list[Face]:
        """Faces sorted by decreasing width; the image is letterboxed to a square first."""
        height, width = rgb.shape[:2]
        scale = FACE_INPUT_SIZE / max(height, width)
        small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
        small = cv2.resize(rgb, (small_w, small_h), interpolation=cv2.INTER_AREA)
        pad_x, pad_y = (FACE_INPUT_SIZE - small_w) // 2, (FACE_INPUT_SIZE - small_h) // 2
        square = cv2.copyMakeBorder(
            small,
            pad_y,
            FACE_INPUT_SIZE - small_h - pad_y,
            pad_x,
            FACE_INPUT_SIZE - small_w - pad_x,
            cv2.BORDER_CONSTANT,
            value=0,
        )
        self._net.setInput(_to_nchw(square.astype(np.float32) / 127.5 - 1.0))
        outputs = dict(zip(self._output_names, self._net.forward(self._output_names), strict=True))
        regressors = outputs["regressors"].reshape(-1, 16)
        scores = sigmoid(outputs["classificators"].reshape(-1))
        keep = scores > min_score
        if not keep.any():
            return []
        # Model outputs are in input pixels; map them back through the letterbox.
        offset = np.array([pad_x, pad_y], np.float64)
        to_image = np.array([width / small_w, height / small_h])
        return self._decode(regressors[keep], self._anchors[keep], scores[keep], offset, to_image)

    @staticmethod
    def _decode(regressors, anchors, scores, offset, to_image) -> list[Face]:
        def input_to_image(points):
            return (points - offset) * to_image

        centres = input_to_image(regressors[:, :2] + anchors * FACE_INPUT_SIZE)
        sizes = regressors[:, 2:4] * to_image
        keypoints = input_to_image(
            regressors[:, 4:16].reshape(-1, 6, 2) + anchors[:, None] * FACE_INPUT_SIZE
        )
        boxes = np.c_[centres - sizes / 2, sizes]
        kept = np.array(cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), 0.0, 0.3)).ravel()
        faces = [Face(boxes[i], float(scores[i]), keypoints[i]) for i in kept]
        return sorted(faces, key=lambda face: -face.width)


class ModelSet:
    """The three networks, for use by one thread at a time."""

    def __init__(self, model_bytes: dict[str, bytes]):
        self.pose = PoseLandmarker(model_bytes[POSE_LANDMARK.name])
        self.selfie = SelfieSegmenter(model_bytes[SELFIE_SEGMENTATION.name])
        self.face = FaceDetector(model_bytes[FACE_DETECTION.name])

"""Checking and normalising uploaded images before a job exists.

An upload is accepted only when it is a whole JPEG, PNG or WebP image within the pixel
limit and above the minimum size. What we store is a JPEG with no metadata, no trailing
bytes and no polyglot payload, EXIF orientation applied. An upright colour JPEG (what
cameras, phones and browsers send most) keeps its compressed pixels as they were, with
every other segment dropped (tryon.jpeg): that costs a fraction of a millisecond, where
decoding and re-encoding a 768x1024 photo costs 10 ms, and adds no compression loss.
Everything else is decoded and encoded afresh from its pixels.
"""
import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from . import jpeg

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
ORIENTATION_TAG = 0x0112
STORED_MIME = "image/jpeg"
STORED_EXTENSION = "jpg"
JPEG_QUALITY = 95


class ImageRejected(ValueError):
    """The upload is not an image we accept; the message says why, for the caller."""


@dataclass(frozen=True)
class NormalizedImage:
    data: bytes
    width: int
    height: int
    mime: str = STORED_MIME
    extension: str = STORED_EXTENSION


class ImageNormalizer:
    """normalize() with the app's limits, for submits and URL inputs alike."""

    def __init__(self, *, max_pixels, min_side):
        self.max_pixels = max_pixels
        self.min_side = min_side

    def normalize(self, data, label):
        return normalize(data, label, self.max_pixels, self.min_side)


def normalize(data, label, max_pixels, min_side):
    """Check and normalise one upload (see the module docstring). `label` names it in
    error messages."""
    if not data:
        raise ImageRejected(f"{label} is empty.")
    image = _open_header(data, label, max_pixels)
    width, height = image.size
    if min(width, height) < min_side:
        raise ImageRejected(
            f"{label} is {width}x{height} pixels; both sides must be at least {min_side} pixels.")
    orientation = _orientation(image)
    if image.format == "JPEG" and image.mode == "RGB" and orientation == 1:
        try:
            stripped = jpeg.without_metadata(data)
        except jpeg.JpegDamaged as exc:
            raise ImageRejected(f"{label} is damaged or truncated ({exc}).") from None
        if stripped is not None:
            return NormalizedImage(data=stripped, width=width, height=height)
    _decode(image, label)
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
    width, height = image.size
    return NormalizedImage(data=encode_jpeg(_flatten(image)), width=width, height=height)


def _open_header(data, label, max_pixels):
    """Open the upload and read its header only: the pixels are not decoded yet."""
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.UnidentifiedImageError:
        raise ImageRejected(
            f"{label} is not a JPEG, PNG or WebP image.") from None
    except Image.DecompressionBombError:
        raise ImageRejected(
            f"{label} has too many pixels; at most {max_pixels} pixels are accepted.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(f"{label} could not be read as an image ({exc}).") from None
    width, height = image.size
    # Refuse huge images before decoding them.
    if width * height > max_pixels:
        raise ImageRejected(
            f"{label} is {width}x{height} pixels; at most {max_pixels} pixels are accepted.")
    return image


def _orientation(image):
    """The EXIF orientation (1 = upright); a broken EXIF block counts as upright, since
    the stored copy will not carry it."""
    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # Pillow raises many kinds on a malformed EXIF block
        return 1
    return orientation if orientation in range(1, 9) else 1


def _decode(image, label):
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"{label} is damaged or truncated ({exc}).") from None


def _flatten(image):
    """RGB pixels; transparent areas become white (product photos' usual background)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def encode_jpeg(image):
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def encode_png(image):
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def decode_result(data, max_pixels):
    """Decode a provider's output image (any format Pillow knows) as RGB, or raise."""
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    if width * height > max_pixels:
        raise ValueError(f"result is {width}x{height} pixels, above the pixel limit")
    image.load()
    return _flatten(image)

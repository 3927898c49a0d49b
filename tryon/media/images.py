"""Checking and normalising uploaded images before a job exists.

An upload is accepted only when it is a whole JPEG, PNG or WebP image within the pixel
limit and above the minimum size. What we store is a JPEG with no metadata, no trailing
bytes and no polyglot payload, EXIF orientation applied. An upright colour JPEG (what
cameras, phones and browsers send most) keeps its compressed pixels as they were, with
every other segment dropped (tryon.media.jpeg): copying segments is far cheaper than
decoding and re-encoding the pixels, and adds no compression loss.
Everything else is decoded and encoded afresh from its pixels.

Decoding is what costs memory, and a small file can hold many pixels: a greyscale PNG of
a few dozen kilobytes can decode to tens of megabytes, and three times that as RGB. A
DecodeBudget (one per app) caps the pixels being decoded at once in the process; a decode
that does not fit waits for others to finish. Uploads that keep their compressed pixels
do not decode and pass freely.
"""
import io
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from PIL import Image, ImageOps

from tryon.media import jpeg

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


class DecodeBudget:
    """At most `pixels` pixels being decoded at once; callers are let in first come, first
    served. An image larger than the whole budget decodes alone rather than never."""

    def __init__(self, pixels):
        self.pixels = pixels
        self._in_use = 0
        self._next_ticket = 0     # the ticket the next caller draws
        self._serving = 0         # the ticket whose turn it is
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, pixels):
        """Wait until `pixels` fit (or nothing else is decoding), hold them for the block."""
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._changed.wait_for(lambda: ticket == self._serving and self._fits(pixels))
            self._serving += 1
            self._in_use += pixels
            self._changed.notify_all()   # the next ticket may fit beside this one
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= pixels
                self._changed.notify_all()

    def in_use(self):
        with self._changed:
            return self._in_use

    def waiting(self):
        """How many callers wait for their turn."""
        with self._changed:
            return self._next_ticket - self._serving

    def _fits(self, pixels):
        return self._in_use == 0 or self._in_use + pixels <= self.pixels


class ImageNormalizer:
    """normalize() with the app's limits and its decode budget, for submits and URL fetches."""

    def __init__(self, *, max_pixels, min_side, budget):
        self.max_pixels = max_pixels
        self.min_side = min_side
        self.budget = budget

    def normalize(self, data, label):
        return normalize(data, label, self.max_pixels, self.min_side, self.budget)


def normalize(data, label, max_pixels, min_side, budget=None):
    """Check and normalise one upload (see the module docstring). `label` names it in
    error messages; `budget` (a DecodeBudget) bounds the memory decoding takes."""
    if not data:
        raise ImageRejected(f"{label} is empty.")
    image = _open_header(data, label, max_pixels)
    width, height = image.size
    if min(width, height) < min_side:
        raise ImageRejected(
            f"{label} is {width}x{height} pixels; both sides must be at least {min_side} pixels.")
    # A JPEG's EXIF comes before its pixels; other formats are only asked inside the budget,
    # since Pillow decodes a whole PNG to look for its EXIF chunk.
    if image.format == "JPEG" and image.mode == "RGB" and _orientation(image) == 1:
        try:
            stripped = jpeg.without_metadata(data)
        except jpeg.JpegDamaged as exc:
            raise ImageRejected(f"{label} is damaged or truncated ({exc}).") from None
        if stripped is not None:
            return NormalizedImage(data=stripped, width=width, height=height)
    with budget.reserve(width * height) if budget is not None else nullcontext():
        return _reencoded(image, label)


def _reencoded(image, label):
    """Decode, rotate upright and encode afresh as a JPEG."""
    _decode(image, label)
    orientation = _orientation(image)
    if orientation != 1:
        upright = ImageOps.exif_transpose(image)
        image.close()  # one full-size copy at a time
        image = upright
    width, height = image.size
    flat = _flatten(image)
    if flat is not image:
        image.close()  # frees the decoded pixels now: the RGB copy is all the encoder needs
    return NormalizedImage(data=encode_jpeg(flat), width=width, height=height)


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
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # no needless copy
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

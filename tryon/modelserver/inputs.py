"""Reading a POST /v1/tryon body: the two images (data URIs, or URLs fetched with the same
SSRF guard the API uses) and the options, checked and decoded before a job is queued.

A malformed request (not JSON, a missing field, a wrong type) is the caller's bug and gets a
400. An image that cannot be used is a property of the job: it becomes a failed job with
INVALID_PERSON_IMAGE or INVALID_GARMENT_IMAGE, which the API passes on to its user.
"""
import base64
import binascii
import hashlib
import io
import json
from dataclasses import dataclass

from PIL import Image

from tryon.media.images import ImageRejected, normalize
from tryon.media.safe_http import FetchFailed, UnsafeUrl

from .models.base import TryOnInput
from .models.prompts import CATEGORIES

MAX_DESCRIPTION = 1000    # what the API accepts (tryon.queue.submissions), so it all arrives
MIN_SIDE = 32


class BadRequest(ValueError):
    """The request itself is malformed (HTTP 400); the message says what to fix."""


class UnusableImage(ValueError):
    """One image cannot be used; `code` is the contract's error code for it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ParsedRequest:
    person_ref: str
    garment_ref: str
    options: dict


def parse_body(raw):
    """The request's fields, checked for shape only (no image is fetched or decoded)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    refs = []
    for name in ("person_image", "garment_image"):
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise BadRequest(f"{name} must be a data URI or an http(s) URL")
        refs.append(value)
    return ParsedRequest(refs[0], refs[1], _options(body.get("options", {})))


def _options(options):
    if not isinstance(options, dict):
        raise BadRequest("options must be an object")
    unknown = sorted(set(options) - {"category", "seed", "fast_mode", "garment_description"})
    if unknown:
        raise BadRequest(f"unknown options: {', '.join(unknown)}")
    category = options.get("category", "auto")
    if category not in CATEGORIES:
        raise BadRequest(f"category must be one of {', '.join(CATEGORIES)}")
    seed = options.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed < 2 ** 32):
        raise BadRequest("seed must be an integer from 0 to 4294967295")
    fast_mode = options.get("fast_mode", False)
    if not isinstance(fast_mode, bool):
        raise BadRequest("fast_mode must be true or false")
    description = options.get("garment_description")
    if description is not None and (not isinstance(description, str)
                                    or len(description) > MAX_DESCRIPTION):
        raise BadRequest(f"garment_description must be text of at most {MAX_DESCRIPTION} "
                         "characters")
    return {"category": category, "seed": seed, "fast_mode": fast_mode,
            "garment_description": description or None}


class InputReader:
    """Turns a ParsedRequest into (fingerprint, TryOnInput).

    The fingerprint covers the images' bytes and the options, not the URLs: the API signs a
    new URL for the same stored image when it sends a job again, and that is the same job.
    """

    def __init__(self, fetcher, *, max_bytes, max_pixels, timeout):
        self._fetcher = fetcher
        self._max_bytes = max_bytes
        self._max_pixels = max_pixels
        self._timeout = timeout

    def read(self, request):
        person = self._image(request.person_ref, "the person image", "INVALID_PERSON_IMAGE")
        garment = self._image(request.garment_ref, "the garment image", "INVALID_GARMENT_IMAGE")
        digest = hashlib.sha256()
        for part in (person.data, garment.data,
                     json.dumps(request.options, sort_keys=True).encode()):
            digest.update(hashlib.sha256(part).digest())
        tryon_input = TryOnInput(person=_rgb(person.data), garment=_rgb(garment.data),
                                 **request.options)
        return digest.hexdigest(), tryon_input

    def _image(self, ref, label, code):
        try:
            data = self._bytes(ref, label)
            return normalize(data, label[0].upper() + label[1:], self._max_pixels, MIN_SIDE)
        except ImageRejected as exc:
            raise UnusableImage(code, str(exc)) from None

    def _bytes(self, ref, label):
        if ref.startswith("data:"):
            header, _, payload = ref.partition(",")
            if not header.endswith(";base64"):
                raise ImageRejected(f"{label} is a data URI that is not base64")
            try:
                return base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise ImageRejected(f"{label} is a data URI that cannot be decoded") from None
        if not ref.startswith(("http://", "https://")):
            raise ImageRejected(f"{label} is neither a data URI nor an http(s) URL")
        try:
            data, _ = self._fetcher.get(ref, max_bytes=self._max_bytes, timeout=self._timeout)
        except (UnsafeUrl, FetchFailed) as exc:
            raise ImageRejected(f"{label} could not be fetched: {exc}") from None
        return data


def _rgb(jpeg_bytes):
    with Image.open(io.BytesIO(jpeg_bytes)) as opened:
        return opened.convert("RGB")

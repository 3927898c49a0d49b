"""Test doubles: a fake provider and image makers. Used by tests only."""
import io
import os
import threading

from PIL import Image, ImageDraw

from tryon.providers import GenerationResult, Provider, ProviderError


def make_image_bytes(size=(512, 640), color=(200, 120, 80), fmt="JPEG", **save_args):
    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).ellipse((size[0] // 4, size[1] // 8, size[0] * 3 // 4, size[1] // 2),
                                  fill=(250, 220, 190))
    out = io.BytesIO()
    image.save(out, format=fmt, **save_args)
    return out.getvalue()


def make_noise_jpeg(side):
    """A JPEG of random pixels: far larger than a photo of the same size."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "JPEG", quality=95)
    return out.getvalue()


class FakeProvider(Provider):
    """Behaves as told: succeed (a tinted copy of the person image), fail with a
    ProviderError, crash, or block until released. Counts its calls."""

    name = "fake"

    def __init__(self):
        self.calls = 0
        self.failure = None          # ProviderError to raise
        self.crash = None            # exception to raise
        self.output = None           # bytes to return instead of a real image
        self.problems = []
        self.release = threading.Event()
        self.release.set()
        self.hang_for = set()        # garment_description values whose jobs block on `release`
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def configuration_problems(self):
        return list(self.problems)

    def generate(self, request, context):
        with self._lock:
            self.calls += 1
        self.entered.set()
        blocked = not self.hang_for or request.options.get("garment_description") in self.hang_for
        if blocked and not self.release.wait(30):
            raise ProviderError("GENERATION_FAILED", "fake provider was never released")
        if self.failure is not None:
            raise self.failure
        if self.crash is not None:
            raise self.crash
        if self.output is not None:
            return GenerationResult(image=self.output)
        person = Image.open(io.BytesIO(request.person.data)).convert("RGB")
        tinted = Image.blend(person, Image.new("RGB", person.size, (0, 0, 255)), 0.3)
        out = io.BytesIO()
        tinted.save(out, format="PNG")
        return GenerationResult(image=out.getvalue(), metadata={"fake": True})

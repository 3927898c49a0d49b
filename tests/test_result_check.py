"""The check of a provider's output before it is stored (tryon.queue.processing): whole PNG and
JPEG files of every common kind pass; truncated, damaged or foreign files fail the job."""
import io

import pytest
from PIL import Image

from tryon import errors
from tryon.errors import JobFailure
from tryon.queue.processing import _check_result_image

MAX_PIXELS = 50_000_000


def photo(mode="RGB", size=(320, 240)):
    """Noisy enough that the compressed data holds many 0xFF bytes (stuffed in JPEG)."""
    image = Image.effect_noise(size, 80).convert("L")
    image = Image.merge("RGB", [image, image.rotate(90, expand=False), image.transpose(0)])
    return image.convert(mode)


def encoded(image, format, **options):
    out = io.BytesIO()
    image.save(out, format=format, **options)
    return out.getvalue()


WHOLE = {
    "jpeg baseline": encoded(photo(), "JPEG", quality=95),
    "jpeg progressive": encoded(photo(), "JPEG", quality=90, progressive=True),
    "jpeg restart markers": encoded(photo(), "JPEG", quality=90, restart_marker_blocks=4),
    "jpeg optimized, exif": encoded(photo(), "JPEG", optimize=True, exif=b"Exif\0\0" + b"x" * 40),
    "jpeg greyscale": encoded(photo("L"), "JPEG"),
    "jpeg cmyk": encoded(photo("CMYK"), "JPEG"),
    "png rgb": encoded(photo(), "PNG"),
    "png rgba": encoded(photo("RGBA"), "PNG", compress_level=1),
}


@pytest.mark.parametrize("name", WHOLE)
def test_whole_images_pass_with_their_size(name):
    image_format, width, height = _check_result_image(WHOLE[name], MAX_PIXELS)
    assert image_format == name.split()[0].upper() and (width, height) == (320, 240)


@pytest.mark.parametrize("name", WHOLE)
@pytest.mark.parametrize("keep", [0.05, 0.3, 0.6, 0.9, 0.999])
def test_a_truncated_image_fails_the_job(name, keep):
    data = WHOLE[name]
    cut = max(16, int(len(data) * keep))
    if name.startswith("jpeg"):
        cut = min(cut, len(data) - 2)            # at least the EOI marker goes
    with pytest.raises(JobFailure) as failure:
        _check_result_image(data[:cut], MAX_PIXELS)
    assert failure.value.error_code == errors.GENERATION_FAILED
    assert failure.value.step == "check_result"


def test_a_damaged_png_fails_the_job():
    damaged = bytearray(WHOLE["png rgb"])
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(JobFailure, match="unreadable"):
        _check_result_image(bytes(damaged), MAX_PIXELS)


@pytest.mark.parametrize("data", [
    b"", b"<html><body>Expired</body></html>", encoded(photo(), "GIF"),
    encoded(photo(), "WEBP"), b"\xff\xd8\xff\xe0" + b"\x00" * 100,
], ids=["empty", "error page", "gif", "webp", "jpeg header only"])
def test_what_is_not_a_whole_png_or_jpeg_fails_the_job(data):
    with pytest.raises(JobFailure):
        _check_result_image(data, MAX_PIXELS)


def test_a_multi_picture_jpeg_is_not_taken_for_a_plain_one():
    first, second = photo(), photo().rotate(180)
    mpo = encoded(first, "MPO", save_all=True, append_images=[second])
    with pytest.raises(JobFailure, match="MPO image; PNG or JPEG expected"):
        _check_result_image(mpo, MAX_PIXELS)


def test_an_image_above_the_pixel_limit_fails_the_job():
    with pytest.raises(JobFailure, match="pixel limit"):
        _check_result_image(WHOLE["png rgb"], 320 * 240 - 1)

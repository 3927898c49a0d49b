"""Uploads as they are stored (tryon.media.images.normalize): no metadata and nothing after the
image in any of them; an upright colour JPEG keeps its compressed pixels unchanged, every
other kind is decoded and encoded afresh; damaged files are refused."""
import io
import threading

import pytest
from PIL import Image

from tests.helpers import wait_for
from tryon.media import jpeg
from tryon.media.images import DecodeBudget, ImageRejected, normalize

LIMITS = {"max_pixels": 50_000_000, "min_side": 64}
SECRETS = (b"SecretCamera", b"<x:xmpmeta", b"secret comment", b"ICC_PROFILE", b"<script>")


def photo(mode="RGB", size=(320, 240)):
    """Noisy, so that the compressed data holds many stuffed 0xFF bytes."""
    grey = Image.effect_noise(size, 80).convert("L")
    return Image.merge("RGB", [grey, grey.transpose(0), grey.transpose(1)]).convert(mode)


def encoded(image, **options):
    out = io.BytesIO()
    image.save(out, format="JPEG", **options)
    return out.getvalue()


def segment(marker, payload):
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def with_segments(data, *segments):
    """Insert segments right after SOI (and after the encoder's own APP0, if any)."""
    return data[:2] + b"".join(segments) + data[2:]


def laden_with_metadata(data):
    exif = Image.Exif()
    exif[0x010F] = "SecretCamera"
    return with_segments(
        data,
        segment(0xE1, exif.tobytes()),                    # starts with "Exif\0\0"
        segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>secret</x:xmpmeta>"),
        segment(0xE2, b"ICC_PROFILE\0\x01\x01" + b"\0" * 64),
        segment(0xFE, b"secret comment"),
    ) + b"<script>alert(1)</script>"


def pixels(data):
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def stored(data):
    return normalize(data, "person_images", **LIMITS)


def assert_clean(data):
    for secret in SECRETS:
        assert secret not in data
    assert data.endswith(b"\xff\xd9") and jpeg.is_whole(data)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.mode == "RGB"
        assert not image.getexif() and "icc_profile" not in image.info


UPRIGHT_COLOUR = {
    "baseline": encoded(photo(), quality=90),
    "progressive": encoded(photo(), quality=90, progressive=True),
    "restart markers": encoded(photo(), quality=90, restart_marker_blocks=2),
    "optimized": encoded(photo(), quality=85, optimize=True),
    "4:4:4": encoded(photo(), quality=85, subsampling=0),
}


@pytest.mark.parametrize("name", UPRIGHT_COLOUR)
def test_an_upright_colour_jpeg_keeps_its_pixels_and_loses_its_metadata(name):
    original = UPRIGHT_COLOUR[name]
    result = stored(laden_with_metadata(original))
    assert_clean(result.data)
    assert (result.width, result.height) == (320, 240)
    assert pixels(result.data) == pixels(original)      # not re-encoded: no loss at all
    assert len(result.data) <= len(original)


def test_a_jfif_thumbnail_is_dropped_and_the_header_kept():
    original = encoded(photo(), quality=90)
    assert original[2:4] == b"\xff\xe0"                  # Pillow writes a JFIF APP0
    thumbnail = b"\x02\x02" + b"\x7f" * 12               # a 2x2 RGB thumbnail
    jfif_length = int.from_bytes(original[4:6], "big")
    with_thumbnail = (original[:4] + (jfif_length + len(thumbnail) - 2).to_bytes(2, "big")
                      + original[6:4 + jfif_length - 2] + thumbnail + original[4 + jfif_length:])
    result = stored(with_thumbnail).data
    assert result[2:6] == b"\xff\xe0\x00\x10" and result[6:11] == b"JFIF\0"
    assert b"\x7f" * 12 not in result
    assert pixels(result) == pixels(original)


@pytest.mark.parametrize("image,options", [
    (photo("L"), {}), (photo("CMYK"), {}), (photo(), {"exif_orientation": 3}),
], ids=["greyscale", "cmyk", "rotated"])
def test_other_jpegs_are_reencoded_as_upright_rgb(image, options):
    exif = Image.Exif()
    if "exif_orientation" in options:
        exif[0x0112] = options["exif_orientation"]
        exif[0x010F] = "SecretCamera"
    result = stored(encoded(image, quality=90, exif=exif.tobytes()) + b"<script>")
    assert_clean(result.data)
    assert (result.width, result.height) == (320, 240)


def test_png_is_reencoded_as_jpeg():
    out = io.BytesIO()
    photo("RGBA").save(out, format="PNG")
    assert_clean(stored(out.getvalue()).data)


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.99])
def test_a_truncated_jpeg_is_refused(cut):
    data = UPRIGHT_COLOUR["baseline"]
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        stored(data[:int(len(data) * cut)])


def test_a_jpeg_whose_segment_lengths_lie_is_refused():
    data = bytearray(UPRIGHT_COLOUR["baseline"])
    sos = data.index(b"\xff\xda")
    data[sos + 2:sos + 4] = (0xFFF0).to_bytes(2, "big")     # the scan header runs past the end
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        stored(bytes(data))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_a_broken_exif_block_does_not_stop_the_upload():
    data = with_segments(UPRIGHT_COLOUR["baseline"], segment(0xE1, b"Exif\0\0MM\0*garbage"))
    assert_clean(stored(data).data)


def test_an_unknown_segment_is_left_to_the_decoder():
    data = with_segments(UPRIGHT_COLOUR["baseline"], segment(0xF7, b"JPEG-LS parameters"))
    assert jpeg.without_metadata(data) is None


def test_a_small_image_is_refused_before_decoding():
    with pytest.raises(ImageRejected, match="at least 64 pixels"):
        stored(encoded(photo(size=(320, 40))))


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe0\x00", b"\xff\xd8\x00\x00"])
def test_a_broken_structure_is_not_whole(data):
    assert not jpeg.is_whole(data)


# --- the decode budget ---------------------------------------------------------------------

class Holder:
    """A thread that reserves `pixels` of a budget and holds them until released."""

    def __init__(self, budget, pixels):
        self.inside = threading.Event()
        self.release = threading.Event()
        self.seen_in_use = None
        self.thread = threading.Thread(target=self._hold, args=(budget, pixels), daemon=True)
        self.thread.start()

    def _hold(self, budget, pixels):
        with budget.reserve(pixels):
            self.seen_in_use = budget.in_use()
            self.inside.set()
            self.release.wait(10)


def test_the_budget_never_lets_more_pixels_decode_at_once_and_callers_wait_their_turn():
    budget = DecodeBudget(100)
    first = Holder(budget, 60)
    assert first.inside.wait(5)
    second = Holder(budget, 60)                 # does not fit beside the first: waits
    wait_for(lambda: budget.waiting() == 1, timeout=5)
    third = Holder(budget, 30)                  # would fit, but waits behind the second
    wait_for(lambda: budget.waiting() == 2, timeout=5)
    assert not second.inside.is_set() and not third.inside.is_set()
    assert budget.in_use() == 60
    first.release.set()
    assert second.inside.wait(5) and third.inside.wait(5)   # 60 + 30 fit together
    assert max(second.seen_in_use, third.seen_in_use) == 90
    second.release.set(), third.release.set()
    for holder in (first, second, third):
        holder.thread.join(5)
    assert budget.in_use() == 0 and budget.waiting() == 0


def test_an_image_larger_than_the_budget_decodes_alone():
    budget = DecodeBudget(100)
    big = Holder(budget, 500)
    assert big.inside.wait(5)                   # alone: it does not wait forever
    small = Holder(budget, 1)
    wait_for(lambda: budget.waiting() == 1, timeout=5)
    assert not small.inside.is_set()
    big.release.set()
    assert small.inside.wait(5)
    small.release.set()


def png_bytes(image):
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_normalize_decodes_within_the_budget_and_the_kept_jpeg_needs_none():
    budget = DecodeBudget(1)
    holder = Holder(budget, 1)                   # the budget is taken
    assert holder.inside.wait(5)
    results = []
    decoding = threading.Thread(target=lambda: results.append(
        normalize(png_bytes(photo("L")), "x", budget=budget, **LIMITS)), daemon=True)
    decoding.start()
    wait_for(lambda: budget.waiting() == 1, timeout=5)   # the PNG waits for its turn...
    kept = normalize(encoded(photo()), "y", budget=budget, **LIMITS)   # ...a kept JPEG does not
    assert kept.width == 320 and results == []
    holder.release.set()
    decoding.join(10)
    assert results[0].width == 320 and budget.in_use() == 0

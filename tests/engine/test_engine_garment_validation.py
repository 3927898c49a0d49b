"""Which garment photos the engine accepts, and that every rejection is a GarmentImageError.

Shops crop tightly and sell knitwear: catalogue-like shots (garments touching the frame,
ribbed and printed knits, an open cardigan, sleeves at an angle) must be accepted, while
garments that the frame really cuts through stay refused.
"""

import cv2
import numpy as np
import pytest
from skimage import data

from tryon.engine import GarmentImageError

pytestmark = pytest.mark.slow   # the real engine on photos: `make test-fast` leaves it out

WHITE_BG, GREY_BG, BEIGE_BG = (246, 246, 246), (128, 128, 128), (200, 225, 235)

ACCEPTED = {
    "blue with logo on white": dict(colour=(150, 75, 30)),
    "red plain on white": dict(colour=(40, 40, 170), print_kind=None),
    "black on white": dict(colour=(30, 30, 30)),
    "white on white": dict(colour=(240, 240, 240), print_kind=None),
    "white with print on white": dict(colour=(244, 244, 244)),
    "light grey on white": dict(colour=(215, 215, 215), print_kind=None),
    "stripes on white": dict(colour=(60, 60, 200), print_kind="stripes"),
    "green on grey": dict(colour=(40, 160, 40), background=GREY_BG),
    "grey on grey": dict(colour=(150, 150, 150), background=GREY_BG, print_kind=None),
    "navy on beige": dict(colour=(90, 30, 20), background=BEIGE_BG),
    "long sleeves": dict(colour=(30, 120, 200), long_sleeves=True),
}


GREY, CREAM = (150, 150, 150), (215, 232, 244)

CATALOGUE = {
    # Before: all three refused with "the garment is cut off by the edge of the garment image".
    "tight crop, tee touching all four edges": lambda g: g.tight_crop(
        g.tshirt(colour=(30, 30, 30), print_kind=None)
    ),
    "tight crop, sleeves at an angle": lambda g: g.tight_crop(
        g.tshirt(colour=(40, 40, 170), shape="angled")
    ),
    "tight crop, open ribbed cardigan": lambda g: g.tight_crop(
        g.tshirt(colour=GREY, long_sleeves=True, open_front=True, print_kind="rib")
    ),
    "open cardigan": lambda g: g.tshirt(
        colour=GREY, long_sleeves=True, open_front=True, print_kind="rib"
    ),
    "cream knit vest with printed motifs on white": lambda g: g.tshirt(
        colour=CREAM, shape="vest", print_kind="motif", background=(250, 250, 250)
    ),
    "white ribbed tee on white": lambda g: g.tshirt(colour=(240, 240, 240), print_kind="rib"),
    "small margin, touching the bottom": lambda g: g.tight_crop(
        g.tshirt(colour=(40, 160, 40)), margin=12
    )[:-12],
}


@pytest.mark.parametrize("name", CATALOGUE)
def test_catalogue_photos_are_accepted(engine, portrait, garment_photos, name):
    garment = CATALOGUE[name](garment_photos)
    result = engine.try_on(portrait, garment, category="tops")
    assert result.image.shape == portrait.shape
    if "tight" in name:
        assert result.info["garment"]["border_touch"] > 0.05  # it really touches the frame


def test_print_motifs_inside_the_outline_are_one_garment():
    from tryon.engine.garment import _garment_blobs

    mask = np.zeros((512, 384), np.uint8)
    cv2.rectangle(mask, (60, 60), (324, 460), 255, 12)  # a faint body: only its outline survived
    for y in (150, 250, 350):
        cv2.circle(mask, (192, y), 40, 255, -1)  # print motifs, not touching the outline
    joined, share = _garment_blobs(mask, 0.03 * 512)
    assert share == 1.0 and joined[250, 192] and joined[60, 100]
    apart = np.zeros((512, 768), np.uint8)
    cv2.rectangle(apart, (20, 100), (300, 400), 255, -1)
    cv2.rectangle(apart, (470, 100), (750, 400), 255, -1)  # a second garment beside it
    assert _garment_blobs(apart, 0.03 * 768)[1] < 0.85


@pytest.mark.parametrize("name", ACCEPTED)
def test_product_photos_are_accepted(engine, portrait, garment_photos, name):
    garment = garment_photos.tshirt(**ACCEPTED[name])
    result = engine.try_on(portrait, garment, category="tops")
    assert result.image.shape == portrait.shape


def test_small_jpeg_garment_photo_is_accepted(engine, portrait, garment_photos):
    garment = cv2.resize(
        garment_photos.tshirt(colour=(40, 40, 170)), (384, 512), interpolation=cv2.INTER_AREA
    )
    garment = cv2.imdecode(
        cv2.imencode(".jpg", garment, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], cv2.IMREAD_COLOR
    )
    assert engine.try_on(portrait, garment).image.shape == portrait.shape


REJECTED = {
    "busy background (coffee)": lambda g, p: g.on_busy_background(
        g.tshirt(), g.to_bgr(data.coffee())
    ),
    "busy background (rocket)": lambda g, p: g.on_busy_background(
        g.tshirt(), g.to_bgr(data.rocket())
    ),
    "cut off by the frame": lambda g, p: g.cut_off(g.tshirt()),
    "collar cut off by the top edge": lambda g, p: g.tshirt()[250:].copy(),
    "sleeve cut off by a side edge": lambda g, p: g.tshirt()[:, 150:].copy(),
    "two garments side by side": lambda g, p: _two_garments(g),
    "person photo as garment": lambda g, p: p,
    "astronaut photo as garment": lambda g, p: g.to_bgr(data.astronaut()),
    "blank white": lambda g, p: np.full((1024, 768, 3), 250, np.uint8),
    "blank grey": lambda g, p: np.full((1024, 768, 3), 128, np.uint8),
    "noise": lambda g, p: np.random.default_rng(3).integers(0, 256, (1024, 768, 3), dtype=np.uint8),
    "photo of a cup": lambda g, p: g.to_bgr(data.coffee()),
    "single channel": lambda g, p: cv2.cvtColor(g.tshirt(), cv2.COLOR_BGR2GRAY),
}


def _two_garments(g):
    photo = np.full((1024, 768, 3), 246, np.uint8)
    photo[256:768, :384] = g.tshirt()[::2, ::2]
    photo[256:768, 384:] = g.tshirt(colour=(40, 40, 170))[::2, ::2]
    return photo


@pytest.mark.parametrize("name", REJECTED)
def test_unusable_garment_photos_are_rejected(engine, portrait, garment_photos, name):
    garment = REJECTED[name](garment_photos, portrait)
    with pytest.raises(GarmentImageError) as caught:
        engine.try_on(portrait, garment)
    assert type(caught.value) is GarmentImageError
    assert "garment" in caught.value.reason

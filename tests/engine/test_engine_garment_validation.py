"""Which garment photos the engine accepts, and that every rejection is a GarmentImageError."""

import cv2
import numpy as np
import pytest
from skimage import data

from tryon.engine import GarmentImageError

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


@pytest.mark.parametrize("name", ACCEPTED)
def test_product_photos_are_accepted(engine, portrait, garment_photos, name):
    garment = garment_photos.tshirt(**ACCEPTED[name])
    result = engine.try_on(portrait, garment, category="tops")
    assert result.image.shape == portrait.shape


def test_small_jpeg_garment_photo_is_accepted(engine, portrait, garment_photos):
    garment = cv2.resize(garment_photos.tshirt(colour=(40, 40, 170)), (384, 512), interpolation=cv2.INTER_AREA)
    garment = cv2.imdecode(cv2.imencode(".jpg", garment, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], cv2.IMREAD_COLOR)
    assert engine.try_on(portrait, garment).image.shape == portrait.shape


REJECTED = {
    "busy background (coffee)": lambda g, p: g.on_busy_background(g.tshirt(), g.to_bgr(data.coffee())),
    "busy background (rocket)": lambda g, p: g.on_busy_background(g.tshirt(), g.to_bgr(data.rocket())),
    "cut off by the frame": lambda g, p: g.cut_off(g.tshirt()),
    "person photo as garment": lambda g, p: p,
    "astronaut photo as garment": lambda g, p: g.to_bgr(data.astronaut()),
    "blank white": lambda g, p: np.full((1024, 768, 3), 250, np.uint8),
    "blank grey": lambda g, p: np.full((1024, 768, 3), 128, np.uint8),
    "noise": lambda g, p: np.random.default_rng(3).integers(0, 256, (1024, 768, 3), dtype=np.uint8),
    "photo of a cup": lambda g, p: g.to_bgr(data.coffee()),
    "single channel": lambda g, p: cv2.cvtColor(g.tshirt(), cv2.COLOR_BGR2GRAY),
}


@pytest.mark.parametrize("name", REJECTED)
def test_unusable_garment_photos_are_rejected(engine, portrait, garment_photos, name):
    garment = REJECTED[name](garment_photos, portrait)
    with pytest.raises(GarmentImageError) as caught:
        engine.try_on(portrait, garment)
    assert type(caught.value) is GarmentImageError
    assert "garment" in caught.value.reason

"""Which person photos the engine accepts, and that every rejection is a PersonImageError."""

import cv2
import numpy as np
import pytest
from skimage import data

from tryon.engine import PersonImageError

pytestmark = pytest.mark.slow   # the real engine on photos: `make test-fast` leaves it out


def jpeg(image, quality):
    return cv2.imdecode(
        cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR
    )


ACCEPTED = {
    "portrait 768x1024": lambda astronaut, portrait: portrait,
    "original 512x512": lambda astronaut, portrait: astronaut,
    "mirrored": lambda astronaut, portrait: cv2.flip(portrait, 1),
    "small 300x400": lambda astronaut, portrait: cv2.resize(
        portrait, (300, 400), interpolation=cv2.INTER_AREA
    ),
    "large 1536x2048": lambda astronaut, portrait: cv2.resize(portrait, (1536, 2048)),
    "landscape 1024x512": lambda astronaut, portrait: cv2.copyMakeBorder(
        astronaut, 0, 0, 256, 256, cv2.BORDER_REPLICATE
    ),
    "stretched 1024x600": lambda astronaut, portrait: cv2.resize(astronaut, (1024, 600)),
    "jpeg quality 40": lambda astronaut, portrait: jpeg(portrait, 40),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_frontal_portraits_are_dressed(engine, astronaut, portrait, blue_tshirt, name):
    person = ACCEPTED[name](astronaut, portrait)
    result = engine.try_on(person, blue_tshirt, category="tops")
    assert result.image.shape == person.shape
    assert result.image.dtype == np.uint8


def _noise(shape):
    return np.random.default_rng(7).integers(0, 256, shape, dtype=np.uint8)


REJECTED = {
    "profile view (camera)": lambda p, g: g.to_bgr(data.camera()),
    "cat (chelsea)": lambda p, g: g.to_bgr(data.chelsea()),
    "coffee cup": lambda p, g: g.to_bgr(data.coffee()),
    "rocket": lambda p, g: g.to_bgr(data.rocket()),
    "grass": lambda p, g: g.to_bgr(data.grass()),
    "coins": lambda p, g: g.to_bgr(data.coins()),
    "galaxies": lambda p, g: g.to_bgr(data.hubble_deep_field()),
    "blank white": lambda p, g: np.full((1024, 768, 3), 255, np.uint8),
    "blank black": lambda p, g: np.zeros((1024, 768, 3), np.uint8),
    "noise": lambda p, g: _noise((1024, 768, 3)),
    "garment photo as person": lambda p, g: g.tshirt(),
    "face-only crop": lambda p, g: p[100:420, 180:480].copy(),
    "shoulders out of frame": lambda p, g: p[:, 250:560].copy(),
    "person too small": lambda p, g: cv2.copyMakeBorder(
        cv2.resize(p, (96, 128)), 448, 448, 336, 336, cv2.BORDER_REPLICATE
    ),
    "grey single channel": lambda p, g: cv2.cvtColor(p, cv2.COLOR_BGR2GRAY),
    "tiny image": lambda p, g: cv2.resize(p, (60, 80)),
}


@pytest.mark.parametrize("name", REJECTED)
def test_unusable_person_photos_are_rejected(engine, portrait, garment_photos, blue_tshirt, name):
    person = REJECTED[name](portrait, garment_photos)
    with pytest.raises(PersonImageError) as caught:
        engine.try_on(person, blue_tshirt)
    assert type(caught.value) is PersonImageError
    assert "person" in caught.value.reason

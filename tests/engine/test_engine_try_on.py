"""What a successful try-on promises: size, untouched face, garment colour on the torso,
thread safety."""

import threading

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from tryon.engine import (
    DEFAULT_MODELS_DIR,
    EngineError,
    ModelsMissingError,
    TryOnEngine,
    UnsupportedCategoryError,
)

pytestmark = pytest.mark.slow   # the real engine on photos: `make test-fast` leaves it out

# Regions of the 768 x 1024 astronaut portrait, found by eye: the face, and the chest below
# the suit's neck ring, between the straps and the name patch.
FACE = (slice(175, 345), slice(245, 410))
CHEST = (slice(600, 700), slice(250, 330))
GREEN = (40, 160, 40)


def test_result_has_the_person_image_size_and_reports_stages(engine, portrait, blue_tshirt):
    result = engine.try_on(portrait, blue_tshirt)
    assert result.image.shape == portrait.shape and result.image.dtype == np.uint8
    assert {"person", "garment", "warp", "composite", "total"} <= set(result.timings_ms)
    assert result.info["garment_kind"] == "top"


def test_face_is_unchanged(engine, portrait, blue_tshirt):
    result = engine.try_on(portrait, blue_tshirt)
    similarity = structural_similarity(portrait[FACE], result.image[FACE], channel_axis=2)
    assert similarity >= 0.98


def test_garment_colour_lands_on_the_torso(engine, portrait, garment_photos):
    result = engine.try_on(portrait, garment_photos.tshirt(colour=GREEN, print_kind=None))
    chest = result.image[CHEST].reshape(-1, 3).mean(axis=0)
    before = portrait[CHEST].reshape(-1, 3).mean(axis=0)
    blue, green, red = chest
    assert green > red + 40 and green > blue + 40, (
        f"chest colour {chest} is not green (was {before})"
    )


def test_changing_the_person_image_size_keeps_the_garment_on_the_torso(
    engine, portrait, garment_photos
):
    garment = garment_photos.tshirt(colour=GREEN, print_kind=None)
    small = cv2.resize(portrait, (384, 512), interpolation=cv2.INTER_AREA)
    result = engine.try_on(small, garment)
    chest = result.image[300:350, 125:165].reshape(-1, 3).mean(axis=0)
    assert chest[1] > chest[2] + 40


@pytest.mark.parametrize("category", ["bottoms", "dresses", "shoes", "", "one-pieces"])
def test_other_categories_are_refused_with_what_is_supported(
    engine, portrait, blue_tshirt, category
):
    with pytest.raises(UnsupportedCategoryError) as caught:
        engine.try_on(portrait, blue_tshirt, category=category)
    assert "tops" in caught.value.reason


def test_auto_category_dresses_a_top(engine, portrait, blue_tshirt):
    assert engine.try_on(portrait, blue_tshirt, category="auto").info["category"] == "tops"


def test_two_threads_on_one_engine_give_the_sequential_results(
    engine, portrait, astronaut, garment_photos
):
    jobs = [
        (portrait, garment_photos.tshirt(colour=GREEN)),
        (astronaut, garment_photos.tshirt(colour=(40, 40, 170), print_kind="stripes")),
    ] * 2
    expected = [engine.try_on(person, garment).image for person, garment in jobs]
    results = [None] * len(jobs)
    start = threading.Barrier(2)

    def worker(indices):
        start.wait()
        for i in indices:
            results[i] = engine.try_on(*jobs[i]).image

    threads = [threading.Thread(target=worker, args=(indices,)) for indices in ([0, 1], [2, 3])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected, strict=True):
        assert got is not None and np.array_equal(got, want)


def test_missing_models_name_the_fetch_command(tmp_path, portrait, blue_tshirt):
    engine = TryOnEngine(models_dir=tmp_path)  # constructing is cheap and never raises
    problems = engine.check()
    assert len(problems) == 3 and all("python -m tryon.engine.fetch_models" in p for p in problems)
    with pytest.raises(ModelsMissingError) as caught:
        engine.load()
    assert "python -m tryon.engine.fetch_models" in caught.value.reason
    with pytest.raises(ModelsMissingError):
        engine.try_on(portrait, blue_tshirt)


def test_corrupt_model_file_is_reported(tmp_path, engine):
    for path in DEFAULT_MODELS_DIR.glob("*.tflite"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "selfie_segmentation.tflite").write_bytes(b"not a model")
    problems = TryOnEngine(models_dir=tmp_path).check()
    assert len(problems) == 1 and "corrupt" in problems[0]


def test_every_error_is_an_engine_error_with_a_reason(engine, portrait):
    with pytest.raises(EngineError) as caught:
        engine.try_on(portrait, np.zeros((10, 10), np.uint8))
    assert caught.value.reason

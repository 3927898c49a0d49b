import importlib.util
import io
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes import FakeProvider, make_image_bytes
from tryon import create_app, services
from tryon.store import accounts, db

GARMENT_PHOTOS = Path(__file__).parent / "engine" / "garment_photos.py"


@pytest.fixture
def fake_provider():
    return FakeProvider()


@pytest.fixture
def make_app(tmp_path, fake_provider):
    """Build apps on a temporary instance folder; their workers are stopped afterwards."""
    apps = []

    def build(start_worker=False, **overrides):
        config = {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret",
            "PROVIDER": "fake",
            "WORKERS": 1,
            "RATE_LIMIT_STATUS": "100000 per minute",
            "MIN_IMAGE_SIDE": 64,
            **overrides,
        }
        app = create_app(config)
        services.of(app).providers.register("fake", lambda cfg: fake_provider)
        if start_worker:
            services.of(app).worker.start()
        apps.append(app)
        return app

    yield build
    for app in apps:
        fake_provider.release.set()
        services.of(app).worker.stop(timeout=10)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def conn(app):
    connection = db.connect(app.config["DATABASE"])
    yield connection
    connection.close()


@pytest.fixture
def make_user(app):
    """Create a user with credits and one API key; return (user_id, key)."""
    counter = iter(range(1, 10_000))

    def create(email=None, credits=10, **kwargs):
        connection = db.connect(app.config["DATABASE"])
        try:
            user_id = accounts.create_user(connection, email or f"user{next(counter)}@example.com",
                                           "correct horse", credits=credits, **kwargs)
            key, _ = accounts.create_api_key(connection, user_id, "test")
        finally:
            connection.close()
        return user_id, key

    return create


@pytest.fixture
def photos(tmp_path):
    """A person and a garment photo on disk, for clients that send files."""
    person, garment = tmp_path / "person.jpg", tmp_path / "garment.jpg"
    person.write_bytes(make_image_bytes())
    garment.write_bytes(make_image_bytes(color=(20, 40, 220)))
    return person, garment


@pytest.fixture
def images():
    return {"person_images": make_image_bytes(),
            "garment_images": make_image_bytes(color=(30, 90, 200))}


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def submit(client, key, person=None, garment=None, headers=None):
    """POST a job with two valid images (or the ones given); return the response."""
    import io
    data = {
        "person_images": (io.BytesIO(person or make_image_bytes()), "person.jpg"),
        "garment_images": (io.BytesIO(garment or make_image_bytes(color=(30, 90, 200))),
                           "garment.jpg"),
    }
    return client.post("/api/v1/tryon", data=data, headers={**auth(key), **(headers or {})},
                       content_type="multipart/form-data")


def wait_for(condition, timeout=15, interval=0.02):
    """Poll `condition` until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def wait_for_status(client, key, job_id, timeout=15):
    def finished():
        response = client.get(f"/api/v1/tryon/status/{job_id}", headers=auth(key))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return body if body["status"] != "processing" else None
    return wait_for(finished, timeout)


def rgb_jpeg(rgb, size=None, quality=92):
    """An RGB array (e.g. a scikit-image photo) as JPEG bytes, resized to `size` if given."""
    image = Image.fromarray(rgb)
    if size:
        image = image.resize(size, Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture(scope="session")
def blue_tshirt_jpeg():
    """A product photo of a blue T-shirt (tests/engine/garment_photos.py), for the real engine."""
    import cv2

    spec = importlib.util.spec_from_file_location("garment_photos_e2e", GARMENT_PHOTOS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return rgb_jpeg(cv2.cvtColor(module.tshirt(colour=(150, 75, 30)), cv2.COLOR_BGR2RGB))

"""The fixtures shared by all tests: apps on a temporary instance folder (with or without
their worker), users with keys, images. Plain helpers are in tests/helpers.py."""
import functools
import importlib.util
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from tests.fakes import FakeProvider, make_image_bytes
from tests.helpers import rgb_jpeg
from tryon import create_app, services
from tryon.dashboard import auth
from tryon.store import accounts, db

GARMENT_PHOTOS = Path(__file__).parent / "engine" / "garment_photos.py"
# werkzeug's scrypt default (N=2**15) costs 0.2 s a hash and as much a login check: with a
# user or two per test that was most of the suite's time. Tests hash with N=2**10 (6 ms);
# the hash names its parameters, so checking it is as cheap. Servers the tests start in a
# subprocess (tests/live.py) keep the real cost.
TEST_PASSWORD_HASH = "scrypt:1024:8:1"


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch):
    cheap = functools.partial(generate_password_hash, method=TEST_PASSWORD_HASH)
    monkeypatch.setattr(accounts, "generate_password_hash", cheap)
    monkeypatch.setattr(auth, "generate_password_hash", cheap)


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
def worker_app(make_app):
    """An app whose worker runs jobs (on the same instance folder and database as `app`);
    the worker is stopped after the test."""
    return make_app(start_worker=True)


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


@pytest.fixture(scope="session")
def blue_tshirt_jpeg():
    """A product photo of a blue T-shirt (tests/engine/garment_photos.py), for the real engine."""
    import cv2

    spec = importlib.util.spec_from_file_location("garment_photos_e2e", GARMENT_PHOTOS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return rgb_jpeg(cv2.cvtColor(module.tshirt(colour=(150, 75, 30)), cv2.COLOR_BGR2RGB))

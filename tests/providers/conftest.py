"""Fixtures for remote-provider tests: an app whose worker runs the provider under test
against a fake server, with a clock that never really waits."""
import io

import pytest

from tests.fakes import make_image_bytes
from tests.helpers import auth, wait_for_status
from tests.providers.fake_server import FastTiming
from tryon import services


@pytest.fixture
def timing():
    return FastTiming()


@pytest.fixture
def provider_app(make_app, timing):
    """build(name, provider_class, **config): an app running jobs on that provider, built
    from the app config as in production but with the fast clock."""
    def build(name, provider_class, **config):
        app = make_app(PROVIDER=name, **{"PROVIDER_TIMEOUT": 60, **config})
        services.of(app).providers.register(
            name, lambda cfg: provider_class.from_config(cfg, timing=timing))
        services.of(app).worker.start()
        return app
    return build


@pytest.fixture
def run_job(make_user):
    """run(app, person=None, garment=None, **form): submit one job (extra form fields are
    options such as category or seed) as a new user and wait for it to finish; returns the
    job's status body."""
    def run(app, person=None, garment=None, **form):
        _, key = make_user()
        client = app.test_client()
        data = {
            "person_images": (io.BytesIO(person or make_image_bytes()), "person.jpg"),
            "garment_images": (io.BytesIO(garment or make_image_bytes(color=(30, 90, 200))),
                               "garment.jpg"),
            **form,
        }
        response = client.post("/api/v1/tryon", data=data, headers=auth(key),
                               content_type="multipart/form-data")
        assert response.status_code == 202, response.get_json()
        return wait_for_status(client, key, response.get_json()["jobId"])
    return run

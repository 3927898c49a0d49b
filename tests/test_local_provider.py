"""End to end through the API with the default `local` provider (the offline engine)."""
import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from tests.helpers import rgb_jpeg, submit, wait_for_status
from tryon import services
from tryon.store import accounts, db

pytestmark = pytest.mark.slow   # the real engine on photos: `make test-fast` leaves it out


@pytest.fixture
def local_app(make_app):
    app = make_app(start_worker=True, PROVIDER="local", MIN_IMAGE_SIDE=256)
    if services.of(app).providers.get("local").configuration_problems():
        pytest.fail("model files missing: run `python -m tryon.engine.fetch_models`")
    return app


def test_astronaut_wears_the_blue_tshirt(local_app, make_user, blue_tshirt_jpeg):
    client = local_app.test_client()
    _, key = make_user()
    person = rgb_jpeg(data.astronaut())
    job_id = submit(client, key, person=person, garment=blue_tshirt_jpeg).get_json()["jobId"]
    body = wait_for_status(client, key, job_id, timeout=60)
    assert body["status"] == "completed", body
    assert body["result"]["provider"] == "local"
    assert (body["result"]["width"], body["result"]["height"]) == (512, 512)
    assert "engineTimingsMs" in body["result"]
    image = client.get(body["imageUrl"].removeprefix("http://localhost"))
    result = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB")).astype(int)
    chest = result[330:400, 220:300].reshape(-1, 3).mean(axis=0)
    assert chest[2] > chest[0] + 40, f"the chest is not blue: {chest}"


def test_a_cat_is_refused_and_refunded(local_app, make_user, blue_tshirt_jpeg):
    client = local_app.test_client()
    user_id, key = make_user(credits=1)
    job_id = submit(client, key, person=rgb_jpeg(data.chelsea()),
                    garment=blue_tshirt_jpeg).get_json()["jobId"]
    body = wait_for_status(client, key, job_id, timeout=60)
    assert body["status"] == "failed"
    assert body["errorCode"] == "INVALID_PERSON_IMAGE"
    assert body["error"] and body["result"]["error"] == body["error"]
    conn = db.connect(local_app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 1
    conn.close()


def test_unsupported_category_is_validation_failed(local_app, make_user, blue_tshirt_jpeg):
    client = local_app.test_client()
    _, key = make_user()
    services.of(local_app).worker.stop()
    job_id = submit(client, key, person=rgb_jpeg(data.astronaut()),
                    garment=blue_tshirt_jpeg).get_json()["jobId"]
    conn = db.connect(local_app.config["DATABASE"])
    conn.execute("UPDATE jobs SET options = '{\"category\": \"bottoms\"}' WHERE id = ?", (job_id,))
    conn.close()
    services.of(local_app).worker.start()
    body = wait_for_status(client, key, job_id, timeout=60)
    assert body["errorCode"] == "VALIDATION_FAILED"
    assert "tops" in body["error"]

"""The production entry point: gunicorn serving wsgi:app as `make run` starts it (one process,
8 threads, the job worker inside), with the default local engine. Other end-to-end tests use
werkzeug's server (tests/live_server.py); this one checks what deployments actually run."""
import io
import re
import signal
from pathlib import Path

import pytest
import requests
from PIL import Image
from skimage import data

from bench.service import MALLOC_SETTINGS
from tests.helpers import rgb_jpeg, wait_for
from tests.live import gunicorn
from tryon.store import accounts, db

pytestmark = pytest.mark.slow   # real gunicorn processes: `make test-fast` leaves it out

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_every_launcher_sets_the_same_malloc_settings():
    # glibc reads them at process start, so each launcher sets them in the environment.
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    unit = (PROJECT_ROOT / "deploy" / "tryon.service").read_text()
    from_make = dict(re.findall(r"^\t?(MALLOC_\w+)=\$\$\{\1:-(\w+)\}", makefile, re.M))
    from_unit = dict(re.findall(r"^Environment=(MALLOC_\w+)=(\w+)$", unit, re.M))
    assert from_make == from_unit == MALLOC_SETTINGS


@pytest.fixture
def gunicorn_server(tmp_path):
    def provider_ready(url):
        return requests.get(url + "/healthz", timeout=2).json()["provider"]["ready"]

    with gunicorn(tmp_path, provider_ready) as (url, process):
        yield url, process, tmp_path


def test_gunicorn_serves_a_try_on_with_the_local_engine_and_stops_cleanly(gunicorn_server,
                                                                          blue_tshirt_jpeg):
    url, process, instance = gunicorn_server
    conn = db.connect(str(instance / "tryon.sqlite3"))
    user_id = accounts.create_user(conn, "prod@example.com", "password1", credits=1)
    key = accounts.create_api_key(conn, user_id, "test")[0]
    conn.close()
    person = rgb_jpeg(data.astronaut(), size=(1536, 1536), quality=98)  # a photo-sized upload
    assert len(person) > 500_000
    headers = {"Authorization": f"Bearer {key}"}

    response = requests.post(url + "/api/v1/tryon", headers=headers, timeout=30, files={
        "person_images": ("person.jpg", person, "image/jpeg"),
        "garment_images": ("garment.jpg", blue_tshirt_jpeg, "image/jpeg")})
    assert response.status_code == 202, response.text
    status_url = url + response.json()["statusUrl"]

    def finished():
        body = requests.get(status_url, headers=headers, timeout=10).json()
        return body if body["status"] != "processing" else None

    body = wait_for(finished, timeout=90, interval=0.1)
    assert body["status"] == "completed", body
    assert (body["result"]["width"], body["result"]["height"]) == (1536, 1536)
    image = requests.get(body["resultImageUrl"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (1536, 1536)

    process.send_signal(signal.SIGTERM)
    assert process.wait(40) == 0
    # gunicorn.conf.py was read: it names tryon's threaded worker.
    assert "Using worker: tryon.web.gunicorn_worker.JsonRefusalsThreadWorker" in \
        (instance / "server.log").read_text()

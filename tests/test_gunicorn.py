"""The production entry point: gunicorn serving wsgi:app as `make run` starts it (one process,
8 threads, the job worker inside), with the default local engine. Other end-to-end tests use
werkzeug's server (tests/live_server.py); this one checks what deployments actually run."""
import importlib.util
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import requests
from PIL import Image
from skimage import data

from tryon import accounts, db

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
GARMENT_PHOTOS = Path(__file__).parent / "engine" / "garment_photos.py"


def jpeg(rgb, size=None, quality=95):
    image = Image.fromarray(rgb)
    if size:
        image = image.resize(size, Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def blue_tshirt_jpeg():
    spec = importlib.util.spec_from_file_location("garment_photos_gunicorn", GARMENT_PHOTOS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return jpeg(cv2.cvtColor(module.tshirt(colour=(150, 75, 30)), cv2.COLOR_BGR2RGB))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def gunicorn_server(tmp_path):
    if not GUNICORN.exists():
        pytest.fail(f"{GUNICORN} is missing: install requirements.txt")
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRYON_")},
           "TRYON_INSTANCE_PATH": str(tmp_path), "TRYON_SECRET_KEY": "gunicorn-test"}
    log = open(tmp_path / "server.log", "ab")
    process = subprocess.Popen(
        [str(GUNICORN), "--workers", "1", "--threads", "8", "--bind", f"127.0.0.1:{port}",
         "--timeout", "120", "--graceful-timeout", "30", "wsgi:app"],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"

    def ready():
        if process.poll() is not None:
            raise AssertionError("gunicorn exited: " + (tmp_path / "server.log").read_text())
        try:
            return requests.get(url + "/healthz", timeout=2).json()["provider"]["ready"]
        except requests.RequestException:
            return False

    try:
        wait_until(ready, 60, "gunicorn to report the local provider ready")
        yield url, process, tmp_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()


def test_gunicorn_serves_a_try_on_with_the_local_engine_and_stops_cleanly(gunicorn_server):
    url, process, instance = gunicorn_server
    conn = db.connect(str(instance / "tryon.sqlite3"))
    user_id = accounts.create_user(conn, "prod@example.com", "password1", credits=1)
    key = accounts.create_api_key(conn, user_id, "test")[0]
    conn.close()
    person = jpeg(data.astronaut(), size=(1536, 1536), quality=98)  # a photo-sized upload
    assert len(person) > 500_000
    headers = {"Authorization": f"Bearer {key}"}

    response = requests.post(url + "/api/v1/tryon", headers=headers, timeout=30, files={
        "person_images": ("person.jpg", person, "image/jpeg"),
        "garment_images": ("garment.jpg", blue_tshirt_jpeg(), "image/jpeg")})
    assert response.status_code == 202, response.text
    status_url = url + response.json()["statusUrl"]

    def finished():
        body = requests.get(status_url, headers=headers, timeout=10).json()
        return body if body["status"] != "processing" else None

    body = wait_until(finished, 90, "the job to finish")
    assert body["status"] == "completed", body
    assert (body["result"]["width"], body["result"]["height"]) == (1536, 1536)
    image = requests.get(body["resultImageUrl"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (1536, 1536)

    process.send_signal(signal.SIGTERM)
    assert process.wait(40) == 0

"""Start and stop real server processes for end-to-end tests: tests/live_server.py
(werkzeug's server with a test provider) and gunicorn as production runs it."""
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from bench.service import MALLOC_SETTINGS, free_port
from tests.fakes import make_image_bytes
from tests.helpers import wait_for
from tryon.store import accounts, db

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


@contextlib.contextmanager
def gunicorn(instance_path, ready, **environment):
    """gunicorn serving wsgi:app from the checkout with its gunicorn.conf.py, as `make run`
    starts it, on a free port; yields (url, process) once `ready(url)` is true. Only the
    TRYON_* variables given here reach it (plus `environment`, e.g. HOME)."""
    if not GUNICORN.exists():
        raise AssertionError(f"{GUNICORN} is missing: install requirements.txt")
    instance_path = Path(instance_path)
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRYON_")},
           "TRYON_INSTANCE_PATH": str(instance_path), "TRYON_SECRET_KEY": "gunicorn-test",
           **MALLOC_SETTINGS, **environment}
    log_path = instance_path / "server.log"
    instance_path.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        process = subprocess.Popen([str(GUNICORN), "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                                   cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)

    def serving():
        if process.poll() is not None:
            raise AssertionError("gunicorn exited: " + log_path.read_text())
        try:
            return ready(url)
        except requests.RequestException:
            return False

    try:
        wait_for(serving, timeout=60, interval=0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


class LiveServer:
    def __init__(self, instance_path, **settings):
        self.instance_path = Path(instance_path)
        self.env = {**os.environ, "TRYON_INSTANCE_PATH": str(instance_path),
                    "TRYON_SECRET_KEY": "live-test-secret", "TRYON_PROVIDER": "test-slow",
                    "TRYON_MIN_IMAGE_SIDE": "64", "PYTHONUNBUFFERED": "1"}
        for name, value in settings.items():
            key = name if name.startswith("TEST_") else f"TRYON_{name}"
            self.env[key] = str(value)
        self.process = None
        self.url = None

    def start(self, timeout=30):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.live_server"], cwd=PROJECT_ROOT, env=self.env,
            stdout=subprocess.PIPE, stderr=open(self.instance_path / "server.log", "ab"),
            text=True)
        line = self.process.stdout.readline()   # blocks until the server listens or dies
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError("live server did not start; see "
                               f"{self.instance_path / 'server.log'}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def kill(self):
        """SIGKILL: no cleanup, no atexit, like a crash or the OOM killer."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def connect(self):
        return db.connect(str(self.instance_path / "tryon.sqlite3"))

    def create_user(self, email, credits):
        """A user and key, written to the server's database directly."""
        conn = self.connect()
        try:
            user_id = accounts.create_user(conn, email, "correct horse", credits=credits)
            key, _ = accounts.create_api_key(conn, user_id, "live")
        finally:
            conn.close()
        return user_id, key

    def post_job(self, key, session=requests):
        """POST one job with generated photos to the real API; return the response."""
        return session.post(
            self.url + "/api/v1/tryon", headers={"Authorization": f"Bearer {key}"},
            files={"person_images": ("p.jpg", make_image_bytes()),
                   "garment_images": ("g.jpg", make_image_bytes(color=(10, 10, 200)))},
            timeout=30)

    def submit_job(self, key):
        """Submit one job that must be accepted; return its jobId."""
        response = self.post_job(key)
        assert response.status_code == 202, response.text
        return response.json()["jobId"]

    def provider_calls(self):
        path = self.instance_path / "provider-calls.log"
        return path.read_text().split() if path.exists() else []

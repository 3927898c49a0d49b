"""The Python client and its command line, against a live server."""
import io
import os
import subprocess
import sys

import pytest
import requests
from PIL import Image

from tests.fakes import make_image_bytes
from tests.image_server import LocalHttpServer
from tests.live import PROJECT_ROOT, LiveServer
from tryon.client import JobFailed, TryOnClient, TryOnError, main
from tryon.store import accounts

# A live server, the client polling it: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("client"), WORKERS=1,
                      URL_INPUT_ALLOW="127.0.0.1").start()
    yield live
    live.stop()


def new_key(server, credits=5):
    new_key.count = getattr(new_key, "count", 0) + 1
    return server.create_user(f"client{new_key.count}@example.com", credits)


def test_run_saves_the_result(server, photos, tmp_path):
    _, key = new_key(server)
    progress = []
    client = TryOnClient(server.url, key)
    document = client.run(*photos, tmp_path / "out.png", category="tops", seed=3,
                          on_progress=progress.append)
    assert document["status"] == "completed"
    assert Image.open(tmp_path / "out.png").size == (512, 640)
    assert progress[-1]["status"] == "completed"
    assert client.credits()["balance"] == 4


def test_url_inputs_and_bytes(server, tmp_path):
    images = LocalHttpServer().start()
    try:
        images.add("/p.jpg", make_image_bytes())
        _, key = new_key(server)
        client = TryOnClient(server.url, key)
        document = client.run(images.url + "/p.jpg", make_image_bytes(color=(0, 0, 0)),
                              tmp_path / "url.png")
        assert document["status"] == "completed"
    finally:
        images.stop()


class LosesFirstResponse(requests.Session):
    """Sends the request for real, then pretends the connection broke (the answer is lost)."""

    def __init__(self):
        super().__init__()
        self.lost = False

    def request(self, method, url, **kwargs):
        response = super().request(method, url, **kwargs)
        if method == "POST" and not self.lost:
            self.lost = True
            raise requests.ConnectionError("connection reset by peer")
        return response


def test_submit_retried_after_a_lost_answer_makes_one_job(server, photos):
    user_id, key = new_key(server, credits=5)
    client = TryOnClient(server.url, key, session=LosesFirstResponse(), sleep=lambda s: None)
    job = client.submit(*photos)
    conn = server.connect()
    try:
        assert conn.execute("SELECT COUNT(*) FROM jobs WHERE user_id = ?",
                            (user_id,)).fetchone()[0] == 1
        assert accounts.balance(conn, user_id) == 4
    finally:
        conn.close()
    assert client.wait(job["jobId"], interval=0.1)["status"] == "completed"


def test_errors_carry_status_and_code(server, photos):
    _, key = new_key(server, credits=0)
    client = TryOnClient(server.url, key, retries=0)
    with pytest.raises(TryOnError) as refused:
        client.submit(*photos)
    assert (refused.value.status, refused.value.error_code) == (402, "INSUFFICIENT_CREDITS")
    with pytest.raises(TryOnError) as unknown:
        client.status("00000000-0000-4000-8000-000000000000")
    assert unknown.value.status == 404


def test_wait_raises_job_failed(server):
    class FailedJobClient(TryOnClient):
        def status(self, job_id):
            return {"jobId": job_id, "status": "failed", "error": "no person", "errorCode":
                    "INVALID_PERSON_IMAGE"}

    with pytest.raises(JobFailed) as failed:
        FailedJobClient(server.url, "ta_x").wait("j")
    assert failed.value.error_code == "INVALID_PERSON_IMAGE"


def test_command_line_run_in_a_subprocess(server, photos, tmp_path):
    _, key = new_key(server)
    output = tmp_path / "cli.png"
    result = subprocess.run(
        [sys.executable, "-m", "tryon.client", "run", *map(str, photos), "-o", str(output)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "TRYON_BASE_URL": server.url, "TRYON_API_KEY": key})
    assert result.returncode == 0, result.stderr
    assert "completed in" in result.stderr and "saved" in result.stdout
    assert Image.open(output).format == "PNG"


def test_command_line_errors(server, photos, tmp_path):
    _, key = new_key(server, credits=0)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--base-url", server.url, "--api-key", key, "run", *map(str, photos),
                 "-o", str(tmp_path / "x.png")], stdout=out, stderr=err)
    assert code == 2 and "Insufficient credits" in err.getvalue()
    assert main(["run", "a", "b", "-o", "c"], stdout=out, stderr=err) == 2 or \
        os.environ.get("TRYON_BASE_URL")
    assert main(["--base-url", server.url, "--api-key", key, "credits"], stdout=out,
                stderr=err) == 0
    assert out.getvalue().strip().endswith("0")


def test_the_client_needs_only_requests():
    blocked = "flask werkzeug PIL cv2 numpy flask_login flask_limiter flask_wtf sqlite3"
    code = ("import sys\n"
            f"for name in {blocked.split()!r}: sys.modules[name] = None\n"
            "import tryon.client\n"
            "print(tryon.client.TryOnClient.__name__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "TryOnClient"

"""End to end on the CPU: our API (a real process, TRYON_PROVIDER=http) → real model server
processes running the tiny random model → a picture of the person's size. Also a model server
killed mid-job and restarted (the API resubmits once, charges once), and two model servers
sharing eight jobs."""
import io
import json

import pytest
import requests
from PIL import Image

from tests.fakes import make_image_bytes
from tests.helpers import wait_for
from tests.live import LiveServer
from tests.modelserver.processes import ModelServerProcess
from tryon.store import accounts

pytestmark = pytest.mark.slow
TOKEN = "gpu-box-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CREDITS = 20


@pytest.fixture
def model_servers(tmp_path):
    started = []

    def start(count=1, *args, env=None):
        servers = [ModelServerProcess(tmp_path / f"modelserver-{len(started) + n}", *args,
                                      token=TOKEN, env=env).start() for n in range(count)]
        started.extend(servers)
        return [server.wait_ready() for server in servers]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def api(tmp_path):
    servers = []

    def start(model_servers, **settings):
        server = LiveServer(tmp_path / "api", PROVIDER="http", HTTP_PROVIDER_TOKEN=TOKEN,
                            HTTP_PROVIDER_URL=",".join(m.url for m in model_servers),
                            PROVIDER_TIMEOUT=300, **settings)
        (tmp_path / "api").mkdir(exist_ok=True)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


def submit(api_server, key, person):
    response = requests.post(
        api_server.url + "/api/v1/tryon", headers={"Authorization": f"Bearer {key}"},
        files={"person_images": ("p.jpg", person),
               "garment_images": ("g.jpg", make_image_bytes((400, 400), (20, 60, 200)))},
        timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["jobId"]


def finished(api_server, key, job_id, timeout=120):
    def done():
        body = requests.get(f"{api_server.url}/api/v1/tryon/status/{job_id}",
                            headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
        return body if body["status"] != "processing" else None
    return wait_for(done, timeout=timeout, interval=0.2)


def balance(api_server, user_id):
    conn = api_server.connect()
    try:
        return accounts.balance(conn, user_id)
    finally:
        conn.close()


def remote_state(api_server, job_id):
    conn = api_server.connect()
    try:
        row = conn.execute("SELECT remote_state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    finally:
        conn.close()
    return json.loads(row["remote_state"])


def test_a_job_comes_back_at_the_persons_size(model_servers, api):
    (model_server,) = model_servers()
    api_server = api([model_server], WORKERS=1)
    user_id, key = api_server.create_user("e2e@example.com", CREDITS)
    job_id = submit(api_server, key, make_image_bytes((360, 500)))
    body = finished(api_server, key, job_id)
    assert body["status"] == "completed", body
    picture = Image.open(io.BytesIO(requests.get(body["imageUrl"], timeout=10).content))
    assert picture.size == (360, 500)
    assert balance(api_server, user_id) == CREDITS - 1
    assert model_server.info(AUTH)["jobsCompleted"] == 1


def test_a_model_server_killed_mid_job_comes_back_and_the_job_completes(model_servers, api):
    # A large person photo keeps the tiny model busy long enough to be killed while it runs.
    (model_server,) = model_servers()
    api_server = api([model_server], WORKERS=1)
    user_id, key = api_server.create_user("restart@example.com", CREDITS)
    job_id = submit(api_server, key, make_image_bytes((1600, 2000)))
    wait_for(lambda: model_server.info(AUTH)["running"] == 1, timeout=60, interval=0.05)
    model_server.kill()
    model_server.start().wait_ready()
    body = finished(api_server, key, job_id, timeout=180)
    assert body["status"] == "completed", body
    assert balance(api_server, user_id) == CREDITS - 1          # charged once
    info = model_server.info(AUTH)
    assert info["jobsCompleted"] == 1                           # resubmitted to the new process
    assert remote_state(api_server, job_id)["resubmitted"] is True


def test_two_model_servers_share_eight_jobs(model_servers, api):
    # Two CPU servers on a 2-core machine: one torch thread each, or their OpenMP threads
    # oversubscribe the cores and spin against each other (jobs of 0.1 s took 10 s).
    servers = model_servers(2, env={"OMP_NUM_THREADS": "1"})
    api_server = api(servers, WORKERS=8)
    user_id, key = api_server.create_user("share@example.com", CREDITS)
    jobs = [submit(api_server, key, make_image_bytes((256, 320))) for _ in range(8)]
    for job_id in jobs:
        assert finished(api_server, key, job_id)["status"] == "completed"
    done = [server.info(AUTH)["jobsCompleted"] for server in servers]
    assert sum(done) == 8
    assert min(done) >= 2, done                 # least-in-flight routing used both
    assert balance(api_server, user_id) == CREDITS - 8


def test_resubmission_and_key_reuse_on_a_real_process(model_servers):
    (model_server,) = model_servers()
    from tests.modelserver.fakes import jpeg_data_uri
    body = {"person_image": jpeg_data_uri((128, 160)), "garment_image": jpeg_data_uri()}
    headers = {**AUTH, "Idempotency-Key": "our-job-1"}
    first = requests.post(model_server.url + "/v1/tryon", json=body, headers=headers,
                          timeout=30)
    again = requests.post(model_server.url + "/v1/tryon", json=body, headers=headers,
                          timeout=30)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    other = requests.post(model_server.url + "/v1/tryon", headers=headers, timeout=30,
                          json={**body, "options": {"seed": 5}})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    model_server.stop()                       # SIGTERM: a clean stop
    assert model_server.process.returncode == 0, model_server.log()

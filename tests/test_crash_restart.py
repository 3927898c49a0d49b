"""Kill a real server process with SIGKILL mid-job, restart it, and check that every job
ends exactly once, charged once, with a complete result file."""
import io

import pytest
import requests
from PIL import Image

from tryon import accounts
from tests.conftest import wait_for
from tests.fakes import make_image_bytes
from tests.live import LiveServer

JOBS = 20
CREDITS = 100


def submit_job(server, key):
    response = requests.post(
        server.url + "/api/v1/tryon", headers={"Authorization": f"Bearer {key}"},
        files={"person_images": ("p.jpg", make_image_bytes()),
               "garment_images": ("g.jpg", make_image_bytes(color=(10, 10, 200)))},
        timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["jobId"]


def states(server):
    conn = server.connect()
    try:
        return dict(conn.execute("SELECT id, state FROM jobs").fetchall())
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path):
    live = LiveServer(tmp_path, WORKERS=2, JOB_LEASE_SECONDS=1, JOB_MAX_ATTEMPTS=20,
                      TEST_PROVIDER_DELAY=0.3)
    yield live
    live.stop()


def test_sigkill_mid_job_and_restart_loses_nothing(server):
    server.start()
    user_id, key = server.create_user("crash@example.com", CREDITS)
    job_ids = [submit_job(server, key) for _ in range(JOBS)]

    for kill_round in range(3):
        calls_before = len(server.provider_calls())
        # Kill right after a job entered the provider: it is mid-generation for 0.3 s.
        wait_for(lambda: len(server.provider_calls()) > calls_before, timeout=30)
        server.kill()
        assert "running" in states(server).values()
        server.start()

    wait_for(lambda: set(states(server).values()) <= {"completed", "failed"}, timeout=90)
    server.stop()

    conn = server.connect()
    try:
        jobs = conn.execute("SELECT * FROM jobs").fetchall()
        assert sorted(job["id"] for job in jobs) == sorted(job_ids)
        assert all(job["state"] == "completed" for job in jobs)
        assert max(job["attempts"] for job in jobs) >= 2        # some jobs really were re-run
        ledger = conn.execute("SELECT job_id, kind FROM credit_ledger WHERE job_id IS NOT NULL"
                              ).fetchall()
        assert sorted(row["job_id"] for row in ledger if row["kind"] == "debit") == sorted(job_ids)
        assert not [row for row in ledger if row["kind"] == "refund"]
        assert accounts.balance(conn, user_id) == CREDITS - JOBS == accounts.ledger_sum(conn, user_id)
        for job in jobs:
            path = server.instance_path / "objects" / job["result_key"]
            with Image.open(io.BytesIO(path.read_bytes())) as image:
                image.load()                                     # complete, decodable file
    finally:
        conn.close()
    assert len(server.provider_calls()) >= JOBS

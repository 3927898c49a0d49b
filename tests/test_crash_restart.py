"""Kill a real server process with SIGKILL mid-job, restart it, and check that every job
ends exactly once, charged once, with a complete result file."""
import io
import random

import pytest
from PIL import Image

from tests.helpers import wait_for
from tests.live import LiveServer
from tryon.store import accounts

# A live service killed and restarted: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

JOBS = 50
CREDITS = 100
KILLS = 4


def states(server):
    conn = server.connect()
    try:
        return dict(conn.execute("SELECT id, state FROM jobs").fetchall())
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path):
    live = LiveServer(tmp_path, WORKERS=2, JOB_LEASE_SECONDS=1, JOB_MAX_ATTEMPTS=20,
                      TEST_PROVIDER_DELAY=0.15)
    yield live
    live.stop()


def test_sigkill_mid_job_and_restart_loses_nothing(server):
    run_kill_loop(server, jobs=JOBS, kills=KILLS, seed=7)


def run_kill_loop(server, *, jobs, kills, seed):
    """Submit `jobs`, SIGKILL the server `kills` times at chosen moments, restart it each
    time, and check that every job ended exactly once, charged once, with a whole file."""
    moments = random.Random(seed)
    server.start()
    user_id, key = server.create_user("crash@example.com", CREDITS * jobs)
    job_ids = [server.submit_job(key) for _ in range(jobs)]

    for _ in range(kills):
        calls_before = len(server.provider_calls())
        # Kill after 1 to 3 more jobs entered the provider: at least one is mid-generation
        # (each takes 0.15 s), and the queue holds more.
        wanted = calls_before + moments.randint(1, 3)
        wait_for(lambda wanted=wanted: len(server.provider_calls()) >= wanted, timeout=30)
        server.kill()
        assert "running" in states(server).values()
        server.start()

    wait_for(lambda: set(states(server).values()) <= {"completed", "failed"}, timeout=90)
    server.stop()

    conn = server.connect()
    try:
        rows = conn.execute("SELECT * FROM jobs").fetchall()
        assert sorted(job["id"] for job in rows) == sorted(job_ids)
        assert all(job["state"] == "completed" for job in rows)
        assert max(job["attempts"] for job in rows) >= 2        # some jobs really were re-run
        ledger = conn.execute("SELECT job_id, kind FROM credit_ledger WHERE job_id IS NOT NULL"
                              ).fetchall()
        assert sorted(row["job_id"] for row in ledger if row["kind"] == "debit") == sorted(job_ids)
        assert not [row for row in ledger if row["kind"] == "refund"]
        expected = CREDITS * jobs - jobs
        assert accounts.balance(conn, user_id) == expected == accounts.ledger_sum(conn, user_id)
        for job in rows:
            path = server.instance_path / "objects" / job["result_key"]
            with Image.open(io.BytesIO(path.read_bytes())) as image:
                image.load()                                     # complete, decodable file
    finally:
        conn.close()
    assert len(server.provider_calls()) >= jobs

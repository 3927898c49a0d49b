"""A real server process is killed (SIGKILL) while its remote job runs; after a restart the
job resumes polling the same remote job: one remote submission, one charge, one result."""
import pytest

from tests.fakes import make_image_bytes
from tests.helpers import wait_for
from tests.live import LiveServer
from tests.providers.fake_server import FastTiming
from tests.providers.test_common_failures import CASES, GOOD_KEYS
from tryon.providers import GenerationRequest, InputImage, JobContext, ProviderError
from tryon.store import accounts

CREDITS = 5


def job_row(server, job_id):
    conn = server.connect()
    try:
        return conn.execute("SELECT state, remote_state, result_key FROM jobs WHERE id = ?",
                            (job_id,)).fetchone()
    finally:
        conn.close()


# A real process per provider costs seconds: two providers cover both ways of resuming (by
# id: fashn; by the URLs the provider returned: fal). The others resume in-process below.
@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("fashn", "fal")], ids=str)
def test_a_restart_resumes_the_same_remote_job(tmp_path, case):
    fake = case.fake_class().start()
    fake.hold.set()  # the remote job keeps running until the first process is dead
    settings = case.settings(fake.url, GOOD_KEYS[case.name])
    server = LiveServer(tmp_path, PROVIDER=case.name, WORKERS=1, JOB_LEASE_SECONDS=1,
                        **settings)
    try:
        server.start()
        user_id, key = server.create_user("restart@example.com", CREDITS)
        job_id = server.submit_job(key)

        wait_for(lambda: job_row(server, job_id)["remote_state"], timeout=20)
        wait_for(lambda: fake.calls(*case.poll), timeout=20)   # it is polling
        server.kill()
        fake.hold.clear()
        server.start()
        wait_for(lambda: job_row(server, job_id)["state"] == "completed", timeout=30)
    finally:
        server.stop()
        fake.stop()

    assert len(fake.calls(*case.submit)) == 1
    assert len(fake.jobs) == 1
    result_key = job_row(server, job_id)["result_key"]
    assert server.instance_path.joinpath("objects", result_key).is_file()
    conn = server.connect()
    try:
        assert accounts.balance(conn, user_id) == CREDITS - 1   # charged once
    finally:
        conn.close()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_saved_remote_job_is_polled_not_resubmitted(case):
    """What the restarted process does, for every provider: given the remote state the first
    attempt saved, generate() polls that remote job and submits nothing."""
    fake = case.fake_class().start()
    try:
        first = _provider(case, fake)
        saved = []
        fake.hold.set()
        with pytest.raises(ProviderError):   # the first attempt dies at its deadline
            first.generate(_request(), JobContext(save_remote_state=saved.append,
                                                  deadline=first.http.timing.monotonic() + 5))
        fake.hold.clear()
        second = _provider(case, fake)
        result = second.generate(_request(), JobContext(remote_state=saved[-1]))
    finally:
        fake.stop()
    assert len(fake.calls(*case.submit)) == 1 and len(fake.jobs) == 1
    assert result.metadata["remote"]["id"] == saved[-1]["id"]


def _provider(case, fake):
    config = {"PROVIDER_TIMEOUT": 60, **case.settings(fake.url, GOOD_KEYS[case.name])}
    return case.provider_class.from_config(config, timing=FastTiming())


def _request():
    image = InputImage(data=make_image_bytes(), mime="image/jpeg", width=512, height=640)
    return GenerationRequest(job_id="job-abc", person=image, garment=image)

"""The queue and the worker: every errorCode a job can end with, leases and recovery."""
import logging
import threading
import time

import pytest

from tests.fakes import make_image_bytes
from tests.helpers import submit, wait_for, wait_for_status
from tryon import errors, services
from tryon.providers import ProviderError
from tryon.queue import jobs
from tryon.store import accounts, db
from tryon.store.objects import StorageError


def run_to_end(make_app, make_user, **config):
    app = make_app(start_worker=True, **config)
    client = app.test_client()
    user_id, key = make_user(credits=5)
    job_id = submit(client, key).get_json()["jobId"]
    body = wait_for_status(client, key, job_id)
    conn = db.connect(app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == (5 if body["status"] == "failed" else 4)
    conn.close()
    return body


@pytest.mark.parametrize("code", [
    errors.INVALID_PERSON_IMAGE, errors.INVALID_GARMENT_IMAGE, errors.VALIDATION_FAILED,
    errors.GENERATION_FAILED, errors.SERVICE_SPECIFIC_ERROR, errors.CONSUMER_CONFIG_ERROR,
    errors.RESULT_UNAVAILABLE,
])
def test_provider_errors_keep_their_code(make_app, make_user, fake_provider, code):
    fake_provider.failure = ProviderError(code, f"provider said {code}")
    body = run_to_end(make_app, make_user)
    assert (body["status"], body["errorCode"], body["error"]) == ("failed", code,
                                                                  f"provider said {code}")
    assert body["result"]["step"] == "generate"


def test_provider_crash_is_generation_failed(make_app, make_user, fake_provider):
    fake_provider.crash = RuntimeError("segfault-ish")
    body = run_to_end(make_app, make_user)
    assert body["errorCode"] == errors.GENERATION_FAILED
    assert "RuntimeError" in body["error"]


def test_unknown_provider_is_invalid_service_provider(make_app, make_user):
    body = run_to_end(make_app, make_user, PROVIDER="no-such-provider")
    assert body["errorCode"] == errors.INVALID_SERVICE_PROVIDER
    assert body["result"]["step"] == "select_provider"


def test_misconfigured_provider_is_consumer_config_error(make_app, make_user, fake_provider):
    fake_provider.problems = ["TRYON_FAKE_API_KEY is not set"]
    body = run_to_end(make_app, make_user)
    assert body["errorCode"] == errors.CONSUMER_CONFIG_ERROR
    assert "TRYON_FAKE_API_KEY" in body["error"]
    assert fake_provider.calls == 0


@pytest.mark.parametrize("problems, level, expected", [
    ([], logging.INFO, "provider fake is ready"),
    (["TRYON_FAKE_API_KEY is not set"], logging.ERROR,
     "provider fake is not ready: TRYON_FAKE_API_KEY is not set"),
])
def test_the_worker_logs_at_start_which_provider_runs_jobs_and_what_it_lacks(
        make_app, fake_provider, caplog, problems, level, expected):
    fake_provider.problems = problems
    with caplog.at_level(logging.INFO, logger="tryon.queue.processing"):
        make_app(start_worker=True)
        wait_for(lambda: any(expected in r.getMessage() and r.levelno == level
                             for r in caplog.records))


def test_unreadable_output_is_generation_failed(make_app, make_user, fake_provider):
    fake_provider.output = b"not an image"
    body = run_to_end(make_app, make_user)
    assert body["errorCode"] == errors.GENERATION_FAILED
    assert body["result"]["step"] == "check_result"


def test_jpeg_output_is_stored_as_jpeg(make_app, make_user, fake_provider):
    fake_provider.output = make_image_bytes(size=(300, 400))
    body = run_to_end(make_app, make_user)
    assert body["result"]["objectKey"].endswith(".jpg")
    assert (body["result"]["width"], body["result"]["height"]) == (300, 400)


def _submit_and_break(app, make_user, break_job):
    client = app.test_client()
    user_id, key = make_user(credits=5)
    job_id = submit(client, key).get_json()["jobId"]
    conn = db.connect(app.config["DATABASE"])
    break_job(conn, jobs.get(conn, job_id))
    conn.close()
    services.of(app).worker.start()
    return wait_for_status(client, key, job_id)


def test_missing_input_is_r2_fetch_failed(make_app, make_user):
    app = make_app()
    store = services.of(app).store
    body = _submit_and_break(app, make_user, lambda conn, job: store.delete(job.person_key))
    assert body["errorCode"] == errors.R2_FETCH_FAILED
    assert body["result"]["step"] == "load_inputs"


def test_corrupt_input_is_queue_invalid_input_data(make_app, make_user):
    app = make_app()
    store = services.of(app).store
    body = _submit_and_break(app, make_user,
                             lambda conn, job: store.put(job.garment_key, b"garbage"))
    assert body["errorCode"] == errors.QUEUE_INVALID_INPUT_DATA


def test_result_write_failure_is_storage_failed(make_app, make_user, monkeypatch):
    app = make_app()
    store = services.of(app).store

    def disk_full(data, near):
        raise StorageError("No space left on device")

    body = _submit_and_break(app, make_user,
                             lambda conn, job: monkeypatch.setattr(store, "stage", disk_full))
    assert body["errorCode"] == errors.STORAGE_FAILED
    assert body["result"]["step"] == "store_result"
    assert not list(store.root.glob("results/*"))


def test_bug_in_our_code_is_internal_error(make_app, make_user, fake_provider):
    # A provider of ours that returns its image as base64 text, not decoded: our result
    # check (outside the provider call) raises a TypeError, a bug rather than a failure.
    fake_provider.output = "iVBORw0KGgo="
    body = run_to_end(make_app, make_user)
    assert (body["status"], body["errorCode"]) == ("failed", errors.INTERNAL_ERROR)
    assert body["result"]["step"] == "internal"


# --- leases and recovery ---------------------------------------------------------------

def test_expired_lease_is_requeued_and_the_job_completes(make_app, make_user, fake_provider):
    app = make_app(JOB_LEASE_SECONDS=1)
    client = app.test_client()
    user_id, key = make_user(credits=1)
    job_id = submit(client, key).get_json()["jobId"]
    conn = db.connect(app.config["DATABASE"])
    job, lease = jobs.claim(conn, lease_seconds=0.01)   # a worker that then died
    assert job.id == job_id
    time.sleep(0.02)
    services.of(app).worker.start()
    body = wait_for_status(client, key, job_id)
    assert body["status"] == "completed"
    assert body["result"]["timings"]["attempt"] == 2
    assert accounts.balance(conn, user_id) == 0
    # The dead worker's late finish is refused: the job ended once.
    assert not jobs.complete(conn, lease, "results/x.png", {})
    assert not jobs.fail(conn, lease, errors.GENERATION_FAILED, "late")
    assert jobs.get(conn, job_id).state == "completed"
    conn.close()


def test_job_out_of_attempts_fails_with_queue_processing_failed(make_app, make_user):
    app = make_app(JOB_MAX_ATTEMPTS=2)
    client = app.test_client()
    user_id, key = make_user(credits=1)
    job_id = submit(client, key).get_json()["jobId"]
    conn = db.connect(app.config["DATABASE"])
    for _ in range(2):
        jobs.claim(conn, lease_seconds=-1)             # crashed twice
        jobs.recover_expired(conn, max_attempts=2)
    job = jobs.get(conn, job_id)
    assert (job.state, job.error_code) == ("failed", errors.QUEUE_PROCESSING_FAILED)
    assert accounts.balance(conn, user_id) == 1
    conn.close()


def test_claim_is_atomic_across_connections(app, make_user):
    client = app.test_client()
    _, key = make_user(credits=10)
    for _ in range(5):
        submit(client, key)
    first, second = (db.connect(app.config["DATABASE"]) for _ in range(2))
    claimed = []
    while True:
        got = [jobs.claim(c, 60) for c in (first, second)]
        claimed += [job.id for job, _ in filter(None, got)]
        if not any(got):
            break
    assert len(claimed) == len(set(claimed)) == 5
    first.close(), second.close()


def test_lease_renewal_keeps_a_long_job(make_app, make_user, fake_provider):
    fake_provider.release.clear()
    app = make_app(start_worker=True, JOB_LEASE_SECONDS=1)
    client = app.test_client()
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    assert fake_provider.entered.wait(10)
    conn = db.connect(app.config["DATABASE"])
    first_expiry = jobs.get(conn, job_id).lease_expires_at
    deadline = time.monotonic() + 5
    while jobs.get(conn, job_id).lease_expires_at == first_expiry:
        assert time.monotonic() < deadline, "lease was never renewed"
        time.sleep(0.05)
    fake_provider.release.set()
    assert wait_for_status(client, key, job_id)["status"] == "completed"
    assert fake_provider.calls == 1
    conn.close()


def test_stop_lets_the_running_job_finish(worker_app, make_user, fake_provider):
    """stop() begins while the job is still inside the provider and returns only after the
    job completed: the provider is released from here once stop() is seen waiting."""
    fake_provider.release.clear()
    client = worker_app.test_client()
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    assert fake_provider.entered.wait(10)
    worker = services.of(worker_app).worker
    state_when_stop_returned = []

    def stop_then_look():
        worker.stop(timeout=10)
        conn = db.connect(worker_app.config["DATABASE"])
        state_when_stop_returned.append(jobs.get(conn, job_id).state)
        conn.close()

    stopper = threading.Thread(target=stop_then_look)
    stopper.start()
    # The dispatcher is gone once stop() has begun; the job is still held in the provider.
    wait_for(lambda: not worker.health()["dispatcherAlive"], timeout=10)
    # A correct stop() waits here however long this takes; one that does not wait would
    # return now, while the provider still holds the job.
    stopper.join(0.2)
    assert stopper.is_alive(), "stop() returned while the job was still in the provider"
    fake_provider.release.set()
    stopper.join(10)
    assert state_when_stop_returned == ["completed"]


def test_list_for_user_pages_newest_first(app, make_user, conn):
    client = app.test_client()
    user_id, key = make_user(credits=10)
    _, other_key = make_user()
    ids = [submit(client, key).get_json()["jobId"] for _ in range(5)]
    submit(client, other_key)
    first_page = jobs.list_for_user(conn, user_id, limit=3)
    assert [job.id for job in first_page] == ids[::-1][:3]
    second_page = jobs.list_for_user(conn, user_id, limit=3, before_seq=first_page[-1].seq)
    assert [job.id for job in second_page] == ids[::-1][3:]
    assert jobs.list_for_user(conn, user_id, state="completed") == []

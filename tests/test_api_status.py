"""GET /api/v1/tryon/status/{jobId}: fields per status, and who may read a job."""
import base64
import dataclasses
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import auth, submit, wait_for, wait_for_status
from tryon import services
from tryon.providers import ProviderError
from tryon.queue import jobs
from tryon.store import accounts, db

STATUS = "/api/v1/tryon/status/{}"
REPO = Path(__file__).resolve().parents[1]


def status(client, key, job_id):
    return client.get(STATUS.format(job_id), headers=auth(key) if key else {})


def test_completed_job_has_the_documented_fields(worker_app, make_user):
    client = worker_app.test_client()
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    body = wait_for_status(client, key, job_id)
    assert body["status"] == "completed"
    assert set(body) == {"jobId", "status", "imageUrl", "resultImageUrl", "result",
                         "createdAt", "updatedAt"}
    assert body["resultImageUrl"] == body["imageUrl"]
    assert body["imageUrl"].startswith("http://localhost/files/results/")
    result = body["result"]
    assert result["objectKey"] == f"results/{job_id}.png"
    assert result["provider"] == "fake"
    assert (result["width"], result["height"]) == (512, 640)
    assert {"queuedMs", "generationMs"} <= set(result["timings"])
    assert body["createdAt"].endswith("Z") and body["updatedAt"] >= body["createdAt"]
    image = client.get(body["imageUrl"].removeprefix("http://localhost"))
    assert image.status_code == 200 and image.mimetype == "image/png"


@pytest.mark.parametrize("delivery, expected", [
    ("base64", {"imageBase64"}),
    ("both", {"imageBase64", "imageUrl", "resultImageUrl"}),
])
def test_result_delivery_modes(make_app, make_user, delivery, expected):
    app = make_app(start_worker=True, RESULT_DELIVERY=delivery)
    client = app.test_client()
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    body = wait_for_status(client, key, job_id)
    assert {"imageBase64", "imageUrl", "resultImageUrl"} & set(body) == expected
    png = base64.b64decode(body["imageBase64"])
    assert png.startswith(b"\x89PNG")


def test_queued_job_reports_its_position(client, make_user):
    _, key = make_user()
    ids = [submit(client, key).get_json()["jobId"] for _ in range(3)]
    body = status(client, key, ids[2]).get_json()
    assert body["status"] == "processing"
    assert body["message"] == "Job is queued: position 3 of 3."
    assert body["result"] == {"stage": "queued", "queuePosition": 3}
    assert "error" not in body and "imageUrl" not in body


def test_running_job_says_it_is_generating(worker_app, make_user, fake_provider):
    fake_provider.release.clear()
    client = worker_app.test_client()
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    assert fake_provider.entered.wait(10)
    body = status(client, key, job_id).get_json()
    assert body["status"] == "processing"
    assert body["message"] == "Job is generating the try-on image."
    fake_provider.release.set()
    assert wait_for_status(client, key, job_id)["status"] == "completed"


def test_failed_job_has_error_code_and_details(worker_app, make_user, fake_provider):
    fake_provider.failure = ProviderError(
        "INVALID_PERSON_IMAGE", "No person was found in the image.",
        provider_error="PoseError", provider_message="pose not detected", step="analyse_person")
    client = worker_app.test_client()
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    body = wait_for_status(client, key, job_id)
    assert body["status"] == "failed"
    assert set(body) == {"jobId", "status", "error", "errorCode", "result", "createdAt",
                         "updatedAt"}
    assert body["errorCode"] == "INVALID_PERSON_IMAGE"
    assert body["error"] == "No person was found in the image."
    assert body["result"]["errorCode"] == "INVALID_PERSON_IMAGE"
    assert body["result"]["step"] == "analyse_person"
    assert body["result"]["providerError"] == {"name": "PoseError", "message": "pose not detected"}


def completed_then_lost(app, make_user):
    """A job the worker completed, its worker stopped, and its result file deleted by hand:
    (client, key, job id)."""
    client = app.test_client()
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    body = wait_for_status(client, key, job_id)
    assert body["status"] == "completed"
    services.of(app).worker.stop()
    services.of(app).store.delete(body["result"]["objectKey"])
    return client, key, job_id


def what_is_written(conn, job_id):
    """The job's row, the ledger, and SQLite's count of other connections' commits."""
    return (dataclasses.asdict(jobs.get(conn, job_id)),
            [tuple(row) for row in conn.execute("SELECT * FROM credit_ledger ORDER BY id")],
            conn.execute("PRAGMA data_version").fetchone()[0])


def refunds(conn, job_id):
    return conn.execute("SELECT COUNT(*) FROM credit_ledger WHERE job_id = ? AND"
                        " kind = 'refund'", (job_id,)).fetchone()[0]


def test_a_poll_of_a_lost_result_answers_failed_and_writes_nothing(worker_app, make_user,
                                                                   conn):
    client, key, job_id = completed_then_lost(worker_app, make_user)
    before = what_is_written(conn, job_id)
    for _ in range(2):
        body = status(client, key, job_id).get_json()
        assert (body["status"], body["errorCode"]) == ("failed", "RESULT_UNAVAILABLE")
        assert body["result"]["step"] == "deliver_result"
    assert what_is_written(conn, job_id) == before
    assert before[0]["state"] == "completed" and refunds(conn, job_id) == 0


def test_the_repair_fails_and_refunds_a_lost_result_once(worker_app, make_user, conn):
    client, key, job_id = completed_then_lost(worker_app, make_user)
    lost = services.of(worker_app).status.lost
    answered = status(client, key, job_id).get_json()
    assert lost.repair(conn) == 1
    status(client, key, job_id)                 # reported again: nothing left to record
    assert lost.repair(conn) == 0
    row = jobs.get(conn, job_id)
    assert row.state == "failed" and refunds(conn, job_id) == 1
    assert accounts.balance(conn, row.user_id) == accounts.ledger_sum(conn, row.user_id)
    recorded = status(client, key, job_id).get_json()
    assert {**recorded, "updatedAt": None} == {**answered, "updatedAt": None}


def test_the_repair_leaves_a_job_whose_result_is_back(worker_app, make_user, conn):
    client, key, job_id = completed_then_lost(worker_app, make_user)
    store, lost = services.of(worker_app).store, services.of(worker_app).status.lost
    status(client, key, job_id)
    key_of_result = f"results/{job_id}.png"
    store.stage(b"restored from a backup", key_of_result).commit(key_of_result)
    assert lost.repair(conn) == 0
    assert jobs.get(conn, job_id).state == "completed" and refunds(conn, job_id) == 0


def test_the_workers_round_records_a_lost_result(worker_app, make_user, conn):
    client = worker_app.test_client()
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    body = wait_for_status(client, key, job_id)
    services.of(worker_app).store.delete(body["result"]["objectKey"])
    assert status(client, key, job_id).get_json()["errorCode"] == "RESULT_UNAVAILABLE"
    wait_for(lambda: jobs.get(conn, job_id).state == "failed")
    assert refunds(conn, job_id) == 1
    assert jobs.get(conn, job_id).error_code == "RESULT_UNAVAILABLE"


# --- who may read a job: owner (any of their keys), other user, anonymous ----------------

def test_access_matrix(app, client, make_user):
    owner_id, owner_key = make_user()
    _, stranger_key = make_user()
    conn = db.connect(app.config["DATABASE"])
    second_owner_key, _ = accounts.create_api_key(conn, owner_id, "second")
    conn.close()
    job_id = submit(client, owner_key).get_json()["jobId"]

    assert status(client, owner_key, job_id).status_code == 200
    assert status(client, second_owner_key, job_id).status_code == 200
    forbidden = status(client, stranger_key, job_id)
    assert forbidden.status_code == 403
    assert forbidden.get_json()["errorCode"] == "FORBIDDEN"
    anonymous = status(client, None, job_id)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid", "1", "%2e%2e"])
def test_unknown_or_malformed_job_is_404(client, make_user, job_id):
    _, key = make_user()
    response = status(client, key, job_id)
    assert response.status_code == 404
    assert response.get_json()["errorCode"] == "NOT_FOUND"


def test_revoked_key_fails_on_the_next_request(app, client, make_user):
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    assert status(client, key, job_id).status_code == 200
    conn = db.connect(app.config["DATABASE"])
    accounts.revoke_api_key(conn, key[:11])
    conn.close()
    assert status(client, key, job_id).status_code == 401


def test_a_key_revoked_by_another_process_fails_at_the_next_poll(app, client, make_user):
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    assert status(client, key, job_id).status_code == 200
    revoke = ("import sys; from tryon.store import accounts, db; "
              "accounts.revoke_api_key(db.connect(sys.argv[1]), sys.argv[2])")
    subprocess.run([sys.executable, "-c", revoke, app.config["DATABASE"], key[:11]],
                   cwd=REPO, check=True, timeout=60)
    response = status(client, key, job_id)
    assert response.status_code == 401
    assert response.get_json()["errorCode"] == "UNAUTHORIZED"


def test_a_job_changed_by_another_connection_shows_at_the_next_poll(app, client, make_user,
                                                                    conn):
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    assert status(client, key, job_id).get_json()["status"] == "processing"
    jobs.cancel(conn, job_id)
    body = status(client, key, job_id).get_json()
    assert (body["status"], body["errorCode"]) == ("failed", "CANCELED")
    jobs.delete_finished(conn, job_id)
    assert status(client, key, job_id).status_code == 404


def test_disabled_user_keys_fail(app, client, make_user):
    user_id, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    assert status(client, key, job_id).status_code == 200
    conn = db.connect(app.config["DATABASE"])
    accounts.set_user_active(conn, user_id, False)
    conn.close()
    assert status(client, key, job_id).status_code == 401
    assert submit(client, key).status_code == 401

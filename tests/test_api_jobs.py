"""Listing, canceling and deleting jobs, and the credits endpoint, with the access matrix."""
import pytest

from tests.helpers import auth, submit, wait_for_status
from tryon import services
from tryon.store import accounts, db


def test_list_pages_newest_first_with_a_cursor(client, make_user):
    _, key = make_user(credits=10)
    ids = [submit(client, key).get_json()["jobId"] for _ in range(5)]
    first = client.get("/api/v1/tryon/jobs?limit=2", headers=auth(key)).get_json()
    assert [job["jobId"] for job in first["jobs"]] == ids[::-1][:2]
    second = client.get(f"/api/v1/tryon/jobs?limit=2&cursor={first['nextCursor']}",
                        headers=auth(key)).get_json()
    third = client.get(f"/api/v1/tryon/jobs?limit=2&cursor={second['nextCursor']}",
                       headers=auth(key)).get_json()
    assert [j["jobId"] for j in second["jobs"] + third["jobs"]] == ids[::-1][2:]
    assert third["nextCursor"] is None
    assert first["jobs"][0]["status"] == "processing"


def test_an_empty_cursor_is_the_first_page(client, make_user):
    # The OpenAPI document allows cursor="" (a string), so it must not be a 400.
    _, key = make_user(credits=3)
    ids = [submit(client, key).get_json()["jobId"] for _ in range(3)]
    response = client.get("/api/v1/tryon/jobs?limit=2&cursor=", headers=auth(key))
    assert response.status_code == 200, response.get_json()
    assert [job["jobId"] for job in response.get_json()["jobs"]] == ids[::-1][:2]
    assert response.get_json()["nextCursor"] is not None


def test_list_filters_by_status_and_shows_only_own_jobs(worker_app, make_user, fake_provider):
    client = worker_app.test_client()
    _, key = make_user()
    _, other = make_user()
    done = submit(client, key).get_json()["jobId"]
    wait_for_status(client, key, done)
    submit(client, other)
    completed = client.get("/api/v1/tryon/jobs?status=completed", headers=auth(key)).get_json()
    assert [job["jobId"] for job in completed["jobs"]] == [done]
    assert completed["jobs"][0]["imageUrl"]
    failed = client.get("/api/v1/tryon/jobs?status=failed", headers=auth(key)).get_json()
    assert failed["jobs"] == []


@pytest.mark.parametrize("query", ["status=weird", "limit=0", "limit=101", "limit=x", "cursor=abc",
                                   "limit=%C2%B2", "cursor=%C2%B2"])  # "²" is a digit to str
def test_list_rejects_bad_parameters(client, make_user, query):
    _, key = make_user()
    response = client.get(f"/api/v1/tryon/jobs?{query}", headers=auth(key))
    assert response.status_code == 400


def test_cancel_a_queued_job_refunds_it(app, client, make_user):
    user_id, key = make_user(credits=1)
    job_id = submit(client, key).get_json()["jobId"]
    response = client.post(f"/api/v1/tryon/{job_id}/cancel", headers=auth(key))
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["errorCode"]) == ("failed", "CANCELED")
    conn = db.connect(app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 1 == accounts.ledger_sum(conn, user_id)
    conn.close()
    again = client.post(f"/api/v1/tryon/{job_id}/cancel", headers=auth(key))
    assert again.status_code == 409


def test_cancel_a_running_job_discards_its_result(worker_app, make_user, fake_provider):
    fake_provider.release.clear()
    client = worker_app.test_client()
    user_id, key = make_user(credits=1)
    job_id = submit(client, key).get_json()["jobId"]
    assert fake_provider.entered.wait(10)
    assert client.post(f"/api/v1/tryon/{job_id}/cancel", headers=auth(key)).status_code == 200
    fake_provider.release.set()
    services.of(worker_app).worker.stop()
    body = client.get(f"/api/v1/tryon/status/{job_id}", headers=auth(key)).get_json()
    assert body["errorCode"] == "CANCELED"
    assert not list(services.of(worker_app).store.root.glob("results/*"))
    conn = db.connect(worker_app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 1
    conn.close()


def test_delete_removes_images_and_record_but_keeps_the_ledger(worker_app, make_user):
    client = worker_app.test_client()
    user_id, key = make_user(credits=3)
    job_id = submit(client, key).get_json()["jobId"]
    wait_for_status(client, key, job_id)
    response = client.delete(f"/api/v1/tryon/{job_id}", headers=auth(key))
    assert response.status_code == 204
    assert client.get(f"/api/v1/tryon/status/{job_id}", headers=auth(key)).status_code == 404
    assert not [p for p in services.of(worker_app).store.root.rglob("*") if p.is_file()]
    conn = db.connect(worker_app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 2 == accounts.ledger_sum(conn, user_id)
    conn.close()


def test_delete_a_processing_job_is_409(client, make_user):
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    assert client.delete(f"/api/v1/tryon/{job_id}", headers=auth(key)).status_code == 409


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/tryon/status/{}"), ("post", "/api/v1/tryon/{}/cancel"),
    ("delete", "/api/v1/tryon/{}"),
])
def test_access_matrix_on_job_routes(client, make_user, method, path):
    _, owner = make_user()
    _, stranger = make_user()
    job_id = submit(client, owner).get_json()["jobId"]
    call = getattr(client, method)
    assert call(path.format(job_id)).status_code == 401
    assert call(path.format(job_id), headers=auth(stranger)).status_code == 403
    assert call(path.format("00000000-0000-4000-8000-000000000000"),
                headers=auth(owner)).status_code == 404


def test_credits_endpoint(client, make_user):
    _, key = make_user(credits=7)
    assert client.get("/api/v1/credits", headers=auth(key)).get_json() == {"balance": 7,
                                                                           "jobCost": 1}
    assert client.get("/api/v1/credits").status_code == 401
    assert client.get("/api/v1/tryon/jobs").status_code == 401

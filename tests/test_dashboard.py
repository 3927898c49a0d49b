"""Dashboard pages: overview, API keys, jobs, playground, credits; who may see what."""
import io
import re

import pytest

from tests.dashboard_client import csrf_token, email_of, login, post_form
from tests.fakes import make_image_bytes
from tests.helpers import auth, submit, wait_for, wait_for_status
from tryon.providers import ProviderError
from tryon.queue import jobs
from tryon.store import accounts

NEW_KEY = re.compile(r'value="(ta_[0-9a-f]{32})"')


@pytest.fixture
def owner(app, make_user, conn):
    """A logged-in user: (test client, user id, API key)."""
    user_id, key = make_user()
    client = app.test_client()
    login(client, email_of(conn, user_id))
    return client, user_id, key


@pytest.fixture
def other(app, make_user, conn):
    user_id, key = make_user()
    client = app.test_client()
    login(client, email_of(conn, user_id))
    return client, user_id, key


def text(response):
    return response.get_data(as_text=True)


def playground_files():
    return {"person_images": (io.BytesIO(make_image_bytes()), "person.jpg"),
            "garment_images": (io.BytesIO(make_image_bytes(color=(30, 90, 200))), "garment.jpg")}


# --- every page, logged in and not --------------------------------------------------------

PAGES = ["/", "/keys", "/jobs", "/credits", "/playground", "/account/password"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_login(client, make_user, path):
    make_user()                     # with no account at all, "/" leads to the sign-up instead
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", PAGES + ["/docs"])
def test_pages_render_for_a_user(owner, path):
    client, _, _ = owner
    response = client.get(path)
    assert response.status_code == 200
    assert 'name="csrf-token"' in text(response)


def test_public_pages_render_anonymously(client):
    for path in ("/login", "/signup", "/docs"):
        assert client.get(path).status_code == 200


# --- API keys ------------------------------------------------------------------------------

def test_a_new_key_is_shown_once_and_works(owner, conn):
    client, user_id, _ = owner
    response = post_form(client, "/keys", {"name": "shop backend"})
    # POST/redirect/GET: reloading the page that shows the key must not create another.
    assert response.status_code == 303 and response.headers["Location"] == "/keys"
    shown = client.get("/keys")
    key = NEW_KEY.search(text(shown)).group(1)
    assert "data-copy" in text(shown)                            # the copy button
    assert shown.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/credits", headers=auth(key)).status_code == 200
    reloaded = client.get("/keys")
    listing = text(reloaded)
    assert "shop backend" in listing and key[:11] in listing and key not in listing
    assert reloaded.headers["Cache-Control"] == "no-store"     # the webhook secret is on it
    assert len(accounts.list_api_keys(conn, user_id)) == 2     # make_user's key and this one


def test_a_key_needs_a_name(owner, conn):
    client, user_id, _ = owner
    assert post_form(client, "/keys", {"name": "  "}).status_code == 400
    assert len(accounts.list_api_keys(conn, user_id)) == 1


def test_the_key_list_shows_last_use_and_status(owner, conn):
    client, user_id, key = owner
    assert "never" in text(client.get("/keys"))
    client.get("/api/v1/credits", headers=auth(key))
    page = text(client.get("/keys"))
    assert "never" not in page and "badge-completed\">active" in page


def test_revoking_asks_first_then_the_next_api_call_fails(owner, conn):
    client, user_id, key = owner
    key_id = accounts.list_api_keys(conn, user_id)[0]["id"]
    confirm = client.get(f"/keys/{key_id}/revoke")
    assert confirm.status_code == 200 and "cannot be undone" in text(confirm)
    assert client.get("/api/v1/credits", headers=auth(key)).status_code == 200
    response = post_form(client, f"/keys/{key_id}/revoke")
    assert response.status_code == 302
    assert client.get("/api/v1/credits", headers=auth(key)).status_code == 401
    assert "revoked" in text(client.get("/keys"))
    again = post_form(client, f"/keys/{key_id}/revoke", follow_redirects=True)
    assert "revoked already" in text(again)


def test_keys_of_another_user_are_invisible(owner, other, conn):
    client, user_id, key = owner
    other_client, _, other_key = other
    key_id = accounts.list_api_keys(conn, user_id)[0]["id"]
    assert key[:11] not in text(other_client.get("/keys"))
    assert other_client.get(f"/keys/{key_id}/revoke").status_code == 404
    assert post_form(other_client, f"/keys/{key_id}/revoke").status_code == 404
    assert client.get("/api/v1/credits", headers=auth(key)).status_code == 200


def test_revoke_pages_need_a_login(client, make_user, conn):
    user_id, _ = make_user()
    key_id = accounts.list_api_keys(conn, user_id)[0]["id"]
    assert client.get(f"/keys/{key_id}/revoke").status_code == 302
    response = client.post(f"/keys/{key_id}/revoke",
                           data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert accounts.list_api_keys(conn, user_id)[0]["revoked_at"] is None


# --- jobs --------------------------------------------------------------------------------

def job_routes(job_id):
    return [f"/jobs/{job_id}", f"/jobs/{job_id}/row", f"/jobs/{job_id}/status"]


def test_job_routes_owner_other_user_anonymous(app, owner, other):
    client, _, key = owner
    job_id = submit(client, key).get_json()["jobId"]
    other_client, _, _ = other
    anonymous = app.test_client()
    for path in job_routes(job_id):
        assert client.get(path).status_code == 200, path
        assert other_client.get(path).status_code == 404, path
        response = anonymous.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert job_id not in text(other_client.get("/jobs"))
    assert job_id not in text(other_client.get("/"))


@pytest.mark.parametrize("job_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_jobs_are_404(owner, job_id):
    client, _, _ = owner
    for path in job_routes(job_id):
        assert client.get(path).status_code == 404


def test_a_processing_job_shows_its_inputs_and_updates_itself(owner):
    client, _, key = owner
    job_id = submit(client, key).get_json()["jobId"]
    page = text(client.get("/jobs"))
    assert 'data-status="processing"' in page and "Job is queued" in page
    assert f"/files/inputs/{job_id}/person.jpg?expires=" in page
    assert f"/files/inputs/{job_id}/garment.jpg?expires=" in page
    assert f'data-row-url="/jobs/{job_id}/row"' in page
    status = client.get(f"/jobs/{job_id}/status").get_json()
    assert status["status"] == "processing" and status["message"].startswith("Job is queued")


def test_a_completed_job_has_result_and_download(worker_app, make_user, conn):
    user_id, key = make_user()
    client = worker_app.test_client()
    login(client, email_of(conn, user_id))
    job_id = submit(client, key).get_json()["jobId"]
    wait_for_status(client, key, job_id)
    page = text(client.get(f"/jobs/{job_id}"))
    result = re.search(r'href="(/files/results/[^"]+)" download', page).group(1)
    image = client.get(result.replace("&amp;", "&"))
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert "badge-completed" in page and "resultImageUrl" in page
    assert "badge-completed" in text(client.get(f"/jobs/{job_id}/row"))


def test_a_failed_job_shows_its_error_code_and_message(worker_app, make_user, conn, fake_provider):
    fake_provider.failure = ProviderError("INVALID_PERSON_IMAGE", "No person in the photo.")
    user_id, key = make_user()
    client = worker_app.test_client()
    login(client, email_of(conn, user_id))
    job_id = submit(client, key).get_json()["jobId"]
    wait_for_status(client, key, job_id)
    for page in (text(client.get("/jobs")), text(client.get(f"/jobs/{job_id}"))):
        assert "INVALID_PERSON_IMAGE" in page and "No person in the photo." in page


def test_jobs_are_newest_first_and_paginated(owner, app, monkeypatch):
    client, _, key = owner
    monkeypatch.setattr("tryon.dashboard.pages.JOBS_PER_PAGE", 2)
    job_ids = [submit(client, key).get_json()["jobId"] for _ in range(3)]
    first = text(client.get("/jobs"))
    assert first.index(job_ids[2]) < first.index(job_ids[1]) and job_ids[0] not in first
    older = re.search(r'href="(/jobs\?before=\d+)"', first).group(1)
    second = text(client.get(older))
    assert job_ids[0] in second and job_ids[1] not in second and "Older jobs" not in second
    # Only ASCII digits are a cursor: an Arabic-Indic 3 shows the first page, not seq < 3.
    assert job_ids[2] in text(client.get("/jobs?before=\u0663"))


# --- playground ----------------------------------------------------------------------------

def test_the_playground_submits_and_charges_like_the_api(owner, conn, app):
    client, user_id, _ = owner
    balance = accounts.balance(conn, user_id)
    response = client.post("/playground", data=playground_files(), headers={
        "X-CSRFToken": csrf_token(client), "Accept": "application/json"})
    assert response.status_code == 202
    body = response.get_json()
    job = jobs.get(conn, body["jobId"])
    assert job.user_id == user_id and job.api_key_id is None
    assert accounts.balance(conn, user_id) == balance - app.config["JOB_COST"]
    assert client.get(body["statusUrl"]).get_json()["status"] == "processing"
    assert body["jobUrl"] == f"/jobs/{body['jobId']}"


def test_the_playground_without_javascript_redirects_to_the_job(owner, conn):
    client, user_id, _ = owner
    response = client.post("/playground", data={**playground_files(),
                                                "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"].startswith("/jobs/")


def test_a_too_large_playground_upload_is_a_json_413_the_page_can_show(make_app, make_user,
                                                                        conn):
    app = make_app(MAX_UPLOAD_MB=0.01)
    user_id, _ = make_user()
    client = app.test_client()
    login(client, email_of(conn, user_id))
    response = client.post("/playground", data=playground_files(), headers={
        "X-CSRFToken": csrf_token(client), "Accept": "application/json"})
    assert response.status_code == 413
    assert "MB" in response.get_json()["error"]
    assert jobs.list_for_user(conn, user_id) == []


def test_the_playground_needs_the_csrf_header(owner, conn):
    client, user_id, _ = owner
    response = client.post("/playground", data=playground_files(),
                           headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["errorCode"] == "CSRF_FAILED"
    assert jobs.list_for_user(conn, user_id) == []


def test_the_playground_refuses_without_credits(app, make_user, conn):
    user_id, _ = make_user(credits=0)
    client = app.test_client()
    login(client, email_of(conn, user_id))
    response = client.post("/playground", data=playground_files(), headers={
        "X-CSRFToken": csrf_token(client), "Accept": "application/json"})
    assert response.status_code == 402
    assert response.get_json()["errorCode"] == "INSUFFICIENT_CREDITS"


def test_the_playground_explains_a_bad_image(owner):
    client, _, _ = owner
    data = {"person_images": (io.BytesIO(b"not an image"), "person.jpg"),
            "garment_images": (io.BytesIO(make_image_bytes()), "garment.jpg"),
            "csrf_token": csrf_token(client)}
    response = client.post("/playground", data=data, follow_redirects=True)
    assert "person_images" in text(response) and "flash-error" in text(response)


def test_the_playground_needs_a_login(client, make_user):
    make_user()
    response = client.post("/playground", data={**playground_files(),
                                                "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- credits ------------------------------------------------------------------------------

def test_credits_show_balance_and_ledger(worker_app, make_user, conn, fake_provider):
    user_id, key = make_user(credits=5)
    client = worker_app.test_client()
    login(client, email_of(conn, user_id))
    fake_provider.failure = ProviderError("GENERATION_FAILED", "boom")
    job_id = submit(client, key).get_json()["jobId"]
    wait_for(lambda: len(accounts.ledger(conn, user_id)) == 3)
    page = text(client.get("/credits"))
    assert 'data-testid="balance">5<' in page
    for kind in ("grant", "debit", "refund"):
        assert f"badge-{kind}" in page
    assert f'href="/jobs/{job_id}"' in page and "+5" in page and "-1" in page


def test_credits_of_others_are_not_shown(owner, other):
    client, _, _ = owner
    other_client, other_id, _ = other
    page = text(client.get("/credits"))
    assert page.count("badge-grant") == 1

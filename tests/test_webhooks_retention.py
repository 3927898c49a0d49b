"""Signed webhooks with retries that survive a restart, and image retention."""
import hashlib
import hmac
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes import make_image_bytes
from tests.helpers import auth, submit, wait_for, wait_for_status
from tests.image_server import LocalHttpServer
from tryon import services
from tryon.providers import ProviderError
from tryon.queue import jobs, webhooks
from tryon.store import accounts, db


@pytest.fixture
def receiver():
    server = LocalHttpServer().start()
    yield server
    server.stop()


def submit_with_webhook(client, key, url):
    return client.post("/api/v1/tryon", headers=auth(key), content_type="multipart/form-data",
                       data={"person_images": (io.BytesIO(make_image_bytes()), "p.jpg"),
                             "garment_images": (io.BytesIO(make_image_bytes()), "g.jpg"),
                             "webhook_url": url}).get_json()["jobId"]


def verify_signature(secret, headers, body):
    parts = dict(item.split("=", 1) for item in headers["Tryon-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(parts["v1"], expected.hexdigest())


@pytest.fixture
def hook_app(make_app):
    return make_app(start_worker=True, URL_INPUT_ALLOW="127.0.0.1",
                    WEBHOOK_RETRY_SECONDS="0.05,0.05,0.05")


def test_completed_job_posts_a_signed_status_document(hook_app, make_user, receiver):
    client = hook_app.test_client()
    user_id, key = make_user()
    job_id = submit_with_webhook(client, key, receiver.url + "/hook")
    (path, headers, body), = receiver.wait_for_posts(1)
    document = json.loads(body)
    assert path == "/hook"
    assert document["event"] == "job.completed" and document["jobId"] == job_id
    assert document["status"] == "completed" and document["imageUrl"].startswith("http://localhost/")
    assert headers["Tryon-Event"] == "job.completed"
    conn = db.connect(hook_app.config["DATABASE"])
    assert verify_signature(accounts.webhook_secret(conn, user_id), headers, body)
    assert not verify_signature("whsec_wrong", headers, body)
    wait_for(lambda: webhooks.deliveries_for_job(conn, job_id)[0]["state"] == "delivered")
    conn.close()


def test_failed_job_posts_job_failed(hook_app, make_user, receiver, fake_provider):
    fake_provider.failure = ProviderError("GENERATION_FAILED", "nope")
    client = hook_app.test_client()
    _, key = make_user()
    submit_with_webhook(client, key, receiver.url + "/hook")
    (_, headers, body), = receiver.wait_for_posts(1)
    assert json.loads(body)["errorCode"] == "GENERATION_FAILED"
    assert headers["Tryon-Event"] == "job.failed"


@pytest.mark.slow
def test_failing_receiver_is_retried_then_given_up(hook_app, make_user, receiver):
    receiver.post_statuses = [500, 503, 500, 500]
    client = hook_app.test_client()
    _, key = make_user()
    job_id = submit_with_webhook(client, key, receiver.url + "/hook")
    receiver.wait_for_posts(4)
    conn = db.connect(hook_app.config["DATABASE"])
    wait_for(lambda: webhooks.deliveries_for_job(conn, job_id)[0]["state"] == "failed")
    delivery = webhooks.deliveries_for_job(conn, job_id)[0]
    assert delivery["attempts"] == 4 and delivery["last_status_code"] == 500
    conn.close()


def test_retry_then_success(hook_app, make_user, receiver):
    receiver.post_statuses = [500]
    client = hook_app.test_client()
    _, key = make_user()
    job_id = submit_with_webhook(client, key, receiver.url + "/hook")
    receiver.wait_for_posts(2)
    conn = db.connect(hook_app.config["DATABASE"])
    wait_for(lambda: webhooks.deliveries_for_job(conn, job_id)[0]["state"] == "delivered")
    conn.close()


def test_pending_delivery_survives_a_restart(make_app, make_user, receiver):
    first = make_app(URL_INPUT_ALLOW="127.0.0.1")
    client = first.test_client()
    _, key = make_user()
    job_id = submit_with_webhook(client, key, receiver.url + "/hook")
    conn = db.connect(first.config["DATABASE"])
    job, lease = jobs.claim(conn, 60)
    assert jobs.fail(conn, lease, "GENERATION_FAILED", "worker died after this")
    assert webhooks.deliveries_for_job(conn, job_id)[0]["state"] == "pending"
    conn.close()
    make_app(start_worker=True, URL_INPUT_ALLOW="127.0.0.1")   # the restarted service
    (_, _, body), = receiver.wait_for_posts(1)
    assert json.loads(body)["jobId"] == job_id


def test_looking_for_due_deliveries_takes_no_write_lock_when_none_is_due(app):
    # The dispatcher looks after every job; finding nothing must not compete for the lock.
    sender = webhooks.WebhookSender(app.config["DATABASE"], services.of(app).http,
                                    services.of(app).status, retry_schedule=[1])
    sender.start()
    writer = db.connect(app.config["DATABASE"])
    impatient = sqlite3.connect(app.config["DATABASE"], timeout=0.05, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        assert sender.send_due(impatient) == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        impatient.close()
        sender.stop()


def test_webhook_to_a_private_address_is_refused_when_sent(make_app, make_user, receiver):
    # Allowed at submit (trusted then), no longer trusted when the service restarts.
    first = make_app(URL_INPUT_ALLOW="127.0.0.1")
    _, key = make_user()
    job_id = submit_with_webhook(first.test_client(), key, receiver.url + "/hook")
    conn = db.connect(first.config["DATABASE"])
    jobs.fail(conn, jobs.claim(conn, 60)[1], "GENERATION_FAILED", "x")
    make_app(start_worker=True, WEBHOOK_RETRY_SECONDS="0.01")
    wait_for(lambda: webhooks.deliveries_for_job(conn, job_id)[0]["state"] == "failed")
    assert "non-public address" in webhooks.deliveries_for_job(conn, job_id)[0]["last_error"]
    assert receiver.received == []
    conn.close()


def test_signature_format():
    assert webhooks.sign("s", 10, b"{}") == "t=10,v1=" + hmac.new(
        b"s", b"10.{}", hashlib.sha256).hexdigest()


# --- retention ---------------------------------------------------------------------------

def test_old_jobs_lose_their_images_and_say_so(make_app, make_user):
    app = make_app(start_worker=True, RETENTION_DAYS=30)
    client = app.test_client()
    _, key = make_user()
    old = submit(client, key).get_json()["jobId"]
    fresh = submit(client, key).get_json()["jobId"]
    wait_for_status(client, key, old), wait_for_status(client, key, fresh)
    worker = services.of(app).worker
    worker.stop()
    conn = db.connect(app.config["DATABASE"])
    long_ago = (datetime.now(UTC) - timedelta(days=31)).isoformat().replace("+00:00", "Z")
    conn.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (long_ago, old))
    worker.start()   # a started worker sweeps at once, then every RETENTION_SWEEP_SECONDS

    def swept_status():
        body = client.get(f"/api/v1/tryon/status/{old}", headers=auth(key)).get_json()
        return body if body["result"].get("imagesDeleted") else None

    body = wait_for(swept_status)
    assert body["status"] == "completed" and "imageUrl" not in body
    assert "deleted after 30 days" in body["message"]
    assert body["result"]["imagesDeleted"] is True
    store = services.of(app).store
    old_job, fresh_job = jobs.get(conn, old), jobs.get(conn, fresh)
    assert not store.exists(old_job.person_key) and not store.exists(old_job.result_key)
    assert not store.exists(old_job.garment_key)
    assert store.exists(fresh_job.person_key) and store.exists(fresh_job.result_key)
    assert "imageUrl" in client.get(f"/api/v1/tryon/status/{fresh}", headers=auth(key)).get_json()
    conn.close()


def test_dashboard_shows_the_secret_and_each_jobs_deliveries(hook_app, make_user, receiver):
    from tests.dashboard_client import login
    client = hook_app.test_client()
    user_id, key = make_user(email="hooks@example.com")
    job_id = submit_with_webhook(client, key, receiver.url + "/hook")
    receiver.wait_for_posts(1)
    conn = db.connect(hook_app.config["DATABASE"])
    wait_for(lambda: webhooks.deliveries_for_job(conn, job_id)[0]["state"] == "delivered")
    secret = accounts.webhook_secret(conn, user_id)
    login(client, "hooks@example.com")
    assert secret in client.get("/keys").get_data(as_text=True)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'data-testid="webhook-delivery"' in page and "delivered" in page
    conn.close()


def test_rotating_the_webhook_secret_from_the_dashboard(app, make_user):
    from tests.dashboard_client import login, post_form
    client = app.test_client()
    user_id, _ = make_user(email="rotate@example.com")
    conn = db.connect(app.config["DATABASE"])
    before = accounts.webhook_secret(conn, user_id)
    login(client, "rotate@example.com")
    assert post_form(client, "/keys/webhook-secret").status_code == 302
    after = accounts.webhook_secret(conn, user_id)
    assert after != before and after.startswith("whsec_")
    conn.close()

"""Reliability: a full disk, a hanging provider, and many concurrent readers and writers."""
import errno
import io
import logging
import os
import threading
import time

import pytest

from tests.fakes import make_image_bytes
from tests.helpers import auth, submit, wait_for_status
from tryon import services
from tryon.store import accounts, db


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def leftover_files(app):
    return [p for p in services.of(app).store.root.rglob("*") if p.is_file()]


def test_disk_full_at_submit_is_507_charges_nothing_and_recovers(app, client, make_user,
                                                                 monkeypatch):
    user_id, key = make_user(credits=2)
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", no_space)
        response = submit(client, key)
    assert response.status_code == 507
    assert response.get_json()["errorCode"] == "STORAGE_FAILED"
    assert leftover_files(app) == []                     # no half-written input stays
    conn = db.connect(app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 2
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    conn.close()
    assert submit(client, key).status_code == 202       # space is back: it works again


def test_disk_full_at_result_fails_cleanly_with_refund(worker_app, make_user, monkeypatch,
                                                       fake_provider):
    fake_provider.release.clear()
    client = worker_app.test_client()
    user_id, key = make_user(credits=1)
    job_id = submit(client, key).get_json()["jobId"]
    assert fake_provider.entered.wait(10)
    monkeypatch.setattr(os, "fsync", no_space)          # the disk fills while it generates
    fake_provider.release.set()
    body = wait_for_status(client, key, job_id)
    monkeypatch.undo()
    assert (body["errorCode"], body["result"]["step"]) == ("STORAGE_FAILED", "store_result")
    store_root = services.of(worker_app).store.root
    assert not list(store_root.glob("results/*")) and not list(store_root.rglob(".tmp-*"))
    conn = db.connect(worker_app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 1 == accounts.ledger_sum(conn, user_id)
    conn.close()
    accounts_conn = db.connect(worker_app.config["DATABASE"])
    accounts.grant_credits(accounts_conn, user_id, 1)
    accounts_conn.close()
    second = submit(client, key).get_json()["jobId"]
    assert wait_for_status(client, key, second)["status"] == "completed"


def test_a_hanging_provider_blocks_neither_other_jobs_nor_polling(make_app, make_user,
                                                                  fake_provider):
    fake_provider.hang_for = {"hang"}
    fake_provider.release.clear()
    app = make_app(start_worker=True, WORKERS=2)
    client = app.test_client()
    _, key = make_user(credits=10)
    stuck = client.post("/api/v1/tryon", headers=auth(key), content_type="multipart/form-data",
                        data={"person_images": (io.BytesIO(make_image_bytes()), "p.jpg"),
                              "garment_images": (io.BytesIO(make_image_bytes()), "g.jpg"),
                              "garment_description": "hang"}).get_json()["jobId"]
    assert fake_provider.entered.wait(10)
    others = [submit(client, key).get_json()["jobId"] for _ in range(3)]
    for job_id in others:
        assert wait_for_status(client, key, job_id)["status"] == "completed"
    started = time.monotonic()
    body = client.get(f"/api/v1/tryon/status/{stuck}", headers=auth(key)).get_json()
    assert body["status"] == "processing" and time.monotonic() - started < 1
    fake_provider.release.set()
    assert wait_for_status(client, key, stuck)["status"] == "completed"


@pytest.mark.slow
def test_fifty_threads_of_reads_and_writes_never_see_a_locked_database(make_app, make_user,
                                                                       caplog):
    app = make_app(start_worker=True, WORKERS=2)
    users = [make_user(credits=1000) for _ in range(5)]
    job_ids = [submit(app.test_client(), key).get_json()["jobId"] for _, key in users]
    problems = []
    stop = time.monotonic() + 4

    def work(index):
        client = app.test_client()
        _, key = users[index % len(users)]
        while time.monotonic() < stop:
            if index % 5 == 0:
                response = submit(client, key, person=make_image_bytes(size=(96, 96)),
                                  garment=make_image_bytes(size=(96, 96)))
            elif index % 5 == 1:
                response = client.get("/api/v1/tryon/jobs?limit=5", headers=auth(key))
            elif index % 5 == 2:
                response = client.get("/api/v1/credits", headers=auth(key))
            else:
                job_id = job_ids[index % len(job_ids)]
                response = client.get(f"/api/v1/tryon/status/{job_id}", headers=auth(key))
            if response.status_code >= 500:
                problems.append((response.status_code, response.get_json()))

    with caplog.at_level(logging.WARNING):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(50)]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
    assert problems == []
    assert "database is locked" not in caplog.text
    conn = db.connect(app.config["DATABASE"])
    for user_id, _ in users:
        assert accounts.balance(conn, user_id) == accounts.ledger_sum(conn, user_id)
    conn.close()

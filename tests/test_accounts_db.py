"""Accounts storage, migrations and configuration."""
import os
import sqlite3
import threading

import pytest

from tryon import config
from tryon.store import accounts, db


def test_keys_are_stored_as_hash_and_prefix_only(app, conn):
    user_id = accounts.create_user(conn, "k@example.com", "password1")
    plaintext, key = accounts.create_api_key(conn, user_id, "ci")
    assert accounts.KEY_PATTERN.match(plaintext)
    row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key.id,)).fetchone()
    assert row["prefix"] == plaintext[:11]
    assert plaintext not in " ".join(str(v) for v in tuple(row))
    dump = "\n".join(conn.iterdump())
    assert plaintext not in dump


def test_last_used_is_recorded(app, conn):
    user_id = accounts.create_user(conn, "l@example.com", "password1")
    plaintext, key = accounts.create_api_key(conn, user_id)
    assert accounts.authenticate_key(conn, plaintext).id == key.id
    row = conn.execute("SELECT last_used_at FROM api_keys WHERE id = ?", (key.id,)).fetchone()
    assert row["last_used_at"] is not None


def test_emails_are_unique_case_insensitively(app, conn):
    accounts.create_user(conn, "Case@example.com", "password1")
    with pytest.raises(accounts.AccountError):
        accounts.create_user(conn, "case@EXAMPLE.com", "password1")


def test_ledger_refuses_a_second_refund_for_a_job(app, conn, make_user):
    user_id, _ = make_user()
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("INSERT INTO credit_ledger (user_id, delta, kind, job_id, created_at)"
                 " VALUES (?, 1, 'refund', 'job-1', 'now')", (user_id,))
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO credit_ledger (user_id, delta, kind, job_id, created_at)"
                     " VALUES (?, 1, 'refund', 'job-1', 'now')", (user_id,))


def test_migrations_set_user_version_and_run_once(tmp_path):
    path = str(tmp_path / "x.sqlite3")
    errors = []

    def migrate():
        conn = db.connect(path)
        try:
            db.migrate(conn, db.migration_lock_path(path))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    conn = db.connect(path)
    latest = db.migration_steps()[-1][0]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest
    assert db.migrate(conn, db.migration_lock_path(path)) == []
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.parametrize("provider,expected", [
    ("local", os.cpu_count()), ("fashn", 8), ("http", 8)])
def test_worker_threads_default_to_what_the_provider_needs(make_app, provider, expected):
    app = make_app(PROVIDER=provider, WORKERS=None)
    assert app.config["WORKERS"] == expected
    assert make_app(PROVIDER=provider, WORKERS=3).config["WORKERS"] == 3


def test_environment_settings_are_converted_and_checked():
    values = config.load_from_env({"TRYON_WORKERS": "4", "TRYON_RESULT_DELIVERY": "both",
                                   "TRYON_PUBLIC_BASE_URL": ""})
    assert values == {"WORKERS": 4, "RESULT_DELIVERY": "both"}
    with pytest.raises(config.ConfigError, match="TRYON_WORKERS"):
        config.load_from_env({"TRYON_WORKERS": "many"})
    with pytest.raises(config.ConfigError, match="url, base64, both"):
        config.load_from_env({"TRYON_RESULT_DELIVERY": "email"})
    with pytest.raises(config.ConfigError, match="at least"):
        config.load_from_env({"TRYON_JOB_LEASE_SECONDS": "0"})
    # A rate limit that flask-limiter cannot parse stops the start, not every request.
    assert config.load_from_env({"TRYON_RATE_LIMIT_SUBMIT": "10/second;500/hour"}) == \
        {"RATE_LIMIT_SUBMIT": "10/second;500/hour"}
    with pytest.raises(config.ConfigError, match="TRYON_RATE_LIMIT_STATUS.*not a valid rate limit"):
        config.load_from_env({"TRYON_RATE_LIMIT_STATUS": "banana"})


def test_secret_is_generated_once_and_kept(make_app, tmp_path):
    first = make_app(SECRET_KEY=None)
    second = make_app(SECRET_KEY=None)
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64
    secret_file = tmp_path / "instance" / "secret_key"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"


def test_healthz_reports_database_worker_and_provider(worker_app):
    body = worker_app.test_client().get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["worker"]["dispatcherAlive"]
    assert body["provider"]["name"] == "fake"

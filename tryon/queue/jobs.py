"""The job queue: the jobs table, with the credit ledger moving in the same transactions.

States: queued -> running -> completed | failed. A worker `claim`s a queued job with one
UPDATE ... RETURNING that also gives it a lease (a random token and an expiry). Only the
holder of the current token can finish or fail a running job, so a job that was run twice
(its first runner froze past the lease) still ends exactly once. `recover_expired` puts
jobs whose lease ran out (the process died) back in the queue, or fails them for good
after too many attempts.

Reads return `Job` records (a frozen dataclass with a `JobState`), never bare rows, so the
state names live in one enum and the JSON columns are decoded in one place.
"""
import json
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from tryon import errors
from tryon.store import accounts
from tryon.store.db import transaction, utcnow


class JobState(StrEnum):
    """The `state` column. The API shows queued and running both as "processing"."""
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class Job:
    """One row of the jobs table, its JSON columns decoded."""
    seq: int
    id: str
    user_id: int
    api_key_id: int | None
    state: JobState
    provider: str
    options: dict                # the submit's checked options
    cost: int
    person_key: str
    garment_key: str
    result_key: str | None
    result: dict                 # the "result" object the status shows ({} until finished)
    error: str | None
    error_code: str | None
    attempts: int
    lease_token: str | None      # who runs it now; None when not running
    lease_expires_at: float | None
    remote_state: dict | None    # what a remote provider keeps to resume the job
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    images_deleted_at: str | None
    base_url: str | None         # the base its imageUrl starts with, for webhooks
    person_url: str | None       # URL inputs the job downloads itself
    garment_url: str | None

    @classmethod
    def from_row(cls, row):
        if row is None:
            return None
        fields = dict(row)
        fields["state"] = JobState(fields["state"])
        fields["options"] = json.loads(fields["options"] or "{}")
        fields["result"] = json.loads(fields["result"] or "{}")
        fields["remote_state"] = json.loads(fields["remote_state"] or "null")
        return cls(**fields)

    @property
    def finished(self):
        return self.state in (JobState.COMPLETED, JobState.FAILED)

    def inputs(self):
        """(label, URL or None, storage key) of the person and the garment image."""
        return (("person", self.person_url, self.person_key),
                ("garment", self.garment_url, self.garment_key))


@dataclass(frozen=True)
class Lease:
    job_id: str
    token: str


IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used, within 24 hours, for a different request."""


def enqueue(conn, *, job_id, user_id, api_key_id, provider, person_key, garment_key,
            cost, options=None, base_url=None, idempotency=None, urls=None):
    """Insert a queued job and debit its cost atomically; raise InsufficientCredits.

    `urls` maps "person" / "garment" to a URL input the job downloads to that key.

    `idempotency` is (key, request_hash) or None. When another request with the same key
    won the race, nothing is written and that request's job id is returned; a different
    request under the same key raises IdempotencyConflict. Returns the id of the job that
    stands for this request.
    """
    now = utcnow()
    with transaction(conn):
        if idempotency is not None:
            existing = find_idempotent_job(conn, user_id, *idempotency)
            if existing is not None:
                return existing
            _remember_idempotency_key(conn, user_id, job_id, *idempotency)
        conn.execute(
            "INSERT INTO jobs (id, user_id, api_key_id, state, provider, options, cost,"
            " person_key, garment_key, person_url, garment_url, base_url, created_at,"
            " updated_at) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, user_id, api_key_id, provider, json.dumps(options or {}), cost,
             person_key, garment_key, (urls or {}).get("person"), (urls or {}).get("garment"),
             base_url, now, now))
        accounts.debit_for_job(conn, user_id, job_id, cost)
    return job_id


def find_idempotent_job(conn, user_id, key, request_hash):
    """The job id an earlier request under `key` created (same request), or None."""
    row = conn.execute(
        "SELECT request_hash, job_id FROM idempotency_keys WHERE user_id = ? AND key = ?"
        " AND created_at > ?", (user_id, key, time.time() - IDEMPOTENCY_WINDOW_SECONDS)).fetchone()
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise IdempotencyConflict()
    return row["job_id"]


def _remember_idempotency_key(conn, user_id, job_id, key, request_hash):
    # An expired row for the same key is replaced: the key may be reused after 24 hours.
    conn.execute("INSERT OR REPLACE INTO idempotency_keys (user_id, key, request_hash, job_id,"
                 " created_at) VALUES (?, ?, ?, ?, ?)",
                 (user_id, key, request_hash, job_id, time.time()))


def get(conn, job_id):
    return Job.from_row(conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())


def list_for_user(conn, user_id, *, limit=20, before_seq=None, state=None):
    """A user's jobs, newest first; page with before_seq (the last row's seq).
    `state` is one state or a tuple of states."""
    clauses, args = ["user_id = ?"], [user_id]
    if before_seq is not None:
        clauses.append("seq < ?")
        args.append(before_seq)
    if state is not None:
        states = (state,) if isinstance(state, str) else tuple(state)
        clauses.append(f"state IN ({', '.join('?' * len(states))})")
        args.extend(states)
    rows = conn.execute(
        f"SELECT * FROM jobs WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?",
        (*args, limit)).fetchall()
    return [Job.from_row(row) for row in rows]


def queue_position(conn, job):
    """1-based position of a queued job among queued jobs, and the queue's length."""
    position = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND seq <= ?",
                            (job.seq,)).fetchone()[0]
    return position, count_in_state(conn, JobState.QUEUED)


def count_in_state(conn, state):
    return conn.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0]


def counts_by_state_and_provider(conn):
    return {(row["state"], row["provider"]): row["n"] for row in conn.execute(
        "SELECT state, provider, COUNT(*) AS n FROM jobs GROUP BY state, provider")}


def counts_by_state(conn):
    return {row["state"]: row["n"] for row in conn.execute(
        "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")}


def claim(conn, lease_seconds):
    """Take the oldest queued job; return (Job, Lease) or None when the queue is empty."""
    token = secrets.token_hex(16)
    now = utcnow()
    with transaction(conn):
        job = Job.from_row(conn.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = ?,"
            " lease_expires_at = ?, started_at = COALESCE(started_at, ?), updated_at = ?"
            " WHERE seq = (SELECT seq FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1)"
            " RETURNING *",
            (token, time.time() + lease_seconds, now, now)).fetchone())
    if job is None:
        return None
    return job, Lease(job_id=job.id, token=token)


def renew_leases(conn, leases, lease_seconds):
    """Extend the leases this process holds; return the job ids whose lease was lost."""
    lost = []
    with transaction(conn):
        for lease in leases:
            updated = conn.execute(
                "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_token = ?"
                " AND state = 'running'",
                (time.time() + lease_seconds, lease.job_id, lease.token)).rowcount
            if not updated:
                lost.append(lease.job_id)
    return lost


def recover_expired(conn, max_attempts):
    """Re-queue running jobs whose lease expired; fail those out of attempts.

    Returns (requeued ids, failed ids).
    """
    now = time.time()
    with transaction(conn):
        expired = conn.execute(
            "SELECT id, attempts FROM jobs WHERE state = 'running' AND lease_expires_at < ?",
            (now,)).fetchall()
        requeued, failed = [], []
        for job in expired:
            if job["attempts"] >= max_attempts:
                _fail_in_transaction(
                    conn, job["id"], None, errors.QUEUE_PROCESSING_FAILED,
                    f"The job was interrupted {job['attempts']} times and was given up.",
                    step="queue", details={})
                failed.append(job["id"])
            else:
                conn.execute(
                    "UPDATE jobs SET state = 'queued', lease_token = NULL, lease_expires_at = NULL,"
                    " updated_at = ? WHERE id = ?", (utcnow(), job["id"]))
                requeued.append(job["id"])
    return requeued, failed


def cancel(conn, job_id):
    """Fail an unfinished job with CANCELED (refunded). Returns False if it had finished."""
    with transaction(conn):
        return _fail_in_transaction(conn, job_id, None, errors.CANCELED, "The job was canceled.",
                                    step="canceled", details={})


def delete_finished(conn, job_id):
    """Delete a finished job's row; its ledger rows stay (balance = sum), unlinked.
    Returns the object keys to delete, or None if the job is not finished."""
    with transaction(conn):
        job = conn.execute("SELECT * FROM jobs WHERE id = ? AND state IN ('completed', 'failed')",
                           (job_id,)).fetchone()
        if job is None:
            return None
        conn.execute("UPDATE credit_ledger SET job_id = NULL, note = ? WHERE job_id = ?",
                     (f"try-on job {job_id} (deleted)", job_id))
        conn.execute("DELETE FROM webhook_deliveries WHERE job_id = ?", (job_id,))
        conn.execute("DELETE FROM idempotency_keys WHERE job_id = ?", (job_id,))
        conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    return [key for key in (job["person_key"], job["garment_key"], job["result_key"]) if key]


def jobs_past_retention(conn, cutoff_iso, limit=500):
    """Finished jobs older than the cutoff whose images still exist."""
    rows = conn.execute(
        "SELECT * FROM jobs WHERE images_deleted_at IS NULL"
        " AND finished_at IS NOT NULL AND finished_at < ? LIMIT ?", (cutoff_iso, limit)).fetchall()
    return [Job.from_row(row) for row in rows]


def mark_images_deleted(conn, job_id):
    with transaction(conn):
        conn.execute("UPDATE jobs SET images_deleted_at = ?, updated_at = ? WHERE id = ?",
                     (utcnow(), utcnow(), job_id))


def save_remote_state(conn, lease, state):
    """Remember what a remote provider needs to resume this job after a restart."""
    with transaction(conn):
        updated = conn.execute(
            "UPDATE jobs SET remote_state = ?, updated_at = ? WHERE id = ? AND lease_token = ?",
            (json.dumps(state), utcnow(), lease.job_id, lease.token)).rowcount
    return bool(updated)


def complete(conn, lease, result_key, result, before_commit=None):
    """Mark the job completed if `lease` still holds it. `before_commit` runs inside the
    transaction (the worker renames the result file into place there). Returns True when
    this call completed the job."""
    with transaction(conn):
        job = conn.execute(
            "UPDATE jobs SET state = 'completed', result_key = ?, result = ?, lease_token = NULL,"
            " lease_expires_at = NULL, updated_at = ?, finished_at = ?"
            " WHERE id = ? AND lease_token = ? AND state = 'running' RETURNING options",
            (result_key, json.dumps(result), utcnow(), utcnow(), lease.job_id, lease.token)
        ).fetchone()
        if job is None:
            return False
        _schedule_webhook(conn, lease.job_id, job["options"], "job.completed")
        if before_commit is not None:
            before_commit()
    return True


def fail(conn, lease, error_code, message, step=None, details=None):
    """Mark the job failed (refunding its credits once) if `lease` still holds it."""
    with transaction(conn):
        return _fail_in_transaction(conn, lease.job_id, lease.token, error_code, message,
                                    step, details or {})


def fail_lost_result(conn, job_id, message):
    """A completed job whose result image is gone (deleted by hand, a backup restored
    without its objects) was not delivered: fail it with RESULT_UNAVAILABLE and refund it,
    once. Jobs whose images retention deleted keep their state. Returns True if this call
    failed it."""
    with transaction(conn):
        job = conn.execute(
            "UPDATE jobs SET state = 'failed', error = ?, error_code = ?, updated_at = ?"
            " WHERE id = ? AND state = 'completed' AND images_deleted_at IS NULL"
            " RETURNING user_id, cost, result",
            (message, errors.RESULT_UNAVAILABLE, utcnow(), job_id)).fetchone()
        if job is None:
            return False
        result = {**json.loads(job["result"] or "{}"), "error": message,
                  "errorCode": errors.RESULT_UNAVAILABLE, "step": "deliver_result"}
        conn.execute("UPDATE jobs SET result = ? WHERE id = ?", (json.dumps(result), job_id))
        accounts.refund_job(conn, job["user_id"], job_id, job["cost"])
    return True


def _fail_in_transaction(conn, job_id, token, error_code, message, step, details):
    now = utcnow()
    job = conn.execute(
        "UPDATE jobs SET state = 'failed', error = ?, error_code = ?, result = ?,"
        " lease_token = NULL, lease_expires_at = NULL, updated_at = ?, finished_at = ?"
        " WHERE id = ? AND state IN ('queued', 'running')"
        " AND (? IS NULL OR lease_token = ?)"
        " RETURNING user_id, cost, provider, options",
        (message, error_code, None, now, now, job_id, token, token)).fetchone()
    if job is None:
        return False
    result = {"error": message, "errorCode": error_code, "step": step,
              "provider": job["provider"], **details}
    conn.execute("UPDATE jobs SET result = ? WHERE id = ?", (json.dumps(result), job_id))
    accounts.refund_job(conn, job["user_id"], job_id, job["cost"])
    _schedule_webhook(conn, job_id, job["options"], "job.failed")
    return True


def _schedule_webhook(conn, job_id, options_json, event):
    """Queue one delivery of `event` when the job asked for a webhook; webhooks.py sends it."""
    url = json.loads(options_json or "{}").get("webhook_url")
    if url:
        conn.execute(
            "INSERT OR IGNORE INTO webhook_deliveries (job_id, url, event, state,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
            (job_id, url, event, time.time(), utcnow()))

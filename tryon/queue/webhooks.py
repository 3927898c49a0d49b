"""Signed webhooks: when a job with a webhook_url finishes, POST its status document there.

A delivery row is written in the same transaction that finishes the job (jobs.py does it,
so this module depends on the queue and not the other way round), so it survives a crash;
the sender retries with back-off (TRYON_WEBHOOK_RETRY_SECONDS) until a 2xx answer or
the schedule runs out, recording each attempt. Each POST carries

    Tryon-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the user's secret>

so the receiver can check that it came from us and is fresh. Webhook URLs pass the same
private-address guard as URL inputs.
"""
import hashlib
import hmac
import json
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor

from tryon.media.safe_http import FetchFailed, UnsafeUrl
from tryon.queue import jobs
from tryon.store import accounts, db
from tryon.store.db import transaction, utcnow

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10
# While an attempt is under way its row is "leased": it is not due again for this long.
ATTEMPT_LEASE_SECONDS = 120
BATCH = 20
DUE = "state = 'pending' AND next_attempt_at <= ?"   # ? is now, as time.time()


def deliveries_for_job(conn, job_id):
    return conn.execute("SELECT * FROM webhook_deliveries WHERE job_id = ? ORDER BY id",
                        (job_id,)).fetchall()


def sign(secret, timestamp, body):
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def parse_retry_schedule(text):
    return [float(part) for part in text.split(",") if part.strip()]


class WebhookSender:
    """Sends due deliveries on its own small thread pool (never on the dispatcher thread)."""

    def __init__(self, database_path, http, renderer, *, retry_schedule, public_base_url=None):
        self._database_path = database_path
        self._http = http
        self._renderer = renderer
        self._retry_schedule = retry_schedule
        self._public_base_url = public_base_url
        self._executor = None

    def start(self):
        self._executor = ThreadPoolExecutor(2, thread_name_prefix="tryon-webhook")

    def stop(self):
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def send_due(self, conn):
        """Claim due deliveries and hand them to the pool; returns how many."""
        if self._executor is None:
            return 0
        now = time.time()
        # The dispatcher calls this after every job. Looking first is a read, which WAL
        # lets run beside writers; claiming is a write, and taking the write lock only to
        # find nothing due competed with submits and job completions for it.
        if conn.execute(f"SELECT 1 FROM webhook_deliveries WHERE {DUE} LIMIT 1",
                        (now,)).fetchone() is None:
            return 0
        with transaction(conn):
            due = conn.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?"
                f" WHERE id IN (SELECT id FROM webhook_deliveries WHERE {DUE}"
                " ORDER BY next_attempt_at LIMIT ?) RETURNING *",
                (now + ATTEMPT_LEASE_SECONDS, now, BATCH)).fetchall()
        for delivery in due:
            self._executor.submit(self._attempt, dict(delivery))
        return len(due)

    def _attempt(self, delivery):
        conn = db.connect(self._database_path)
        try:
            status_code, error = self._post(conn, delivery)
            self._record(conn, delivery, status_code, error)
        except Exception:
            log.exception("webhook delivery %s crashed; it will be retried", delivery["id"])
        finally:
            conn.close()

    def _post(self, conn, delivery):
        job = jobs.get(conn, delivery["job_id"])
        if job is None:
            return None, "the job was deleted"
        base_url = self._public_base_url or job.base_url or "http://localhost"
        document = self._renderer.render(conn, job, base_url, with_queue_position=False)
        body = json.dumps({"event": delivery["event"], **document}).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "Tryon-Event": delivery["event"],
            "Tryon-Delivery": str(delivery["id"]),
            "Tryon-Signature": sign(accounts.webhook_secret(conn, job.user_id), timestamp,
                                    body),
        }
        try:
            response = self._http.post(delivery["url"], body=body, headers=headers,
                                       timeout=SEND_TIMEOUT_SECONDS)
        except (UnsafeUrl, FetchFailed) as exc:
            return None, str(exc)
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"

    def _record(self, conn, delivery, status_code, error):
        with transaction(conn):
            if error is None:
                conn.execute("UPDATE webhook_deliveries SET state = 'delivered',"
                             " last_status_code = ?, last_error = NULL, delivered_at = ?"
                             " WHERE id = ?", (status_code, utcnow(), delivery["id"]))
                return
            attempts = delivery["attempts"]
            gave_up = attempts > len(self._retry_schedule) or error == "the job was deleted"
            wait = 0 if gave_up else self._retry_schedule[attempts - 1] * random.uniform(0.9, 1.1)
            conn.execute(
                "UPDATE webhook_deliveries SET state = ?, last_status_code = ?, last_error = ?,"
                " next_attempt_at = ? WHERE id = ?",
                ("failed" if gave_up else "pending", status_code, error[:500], time.time() + wait,
                 delivery["id"]))
        log.info("webhook delivery %s for job %s failed (%s); %s", delivery["id"],
                 delivery["job_id"], error, "gave up" if gave_up else f"retry in {wait:.0f}s")


"""The background worker: a dispatcher thread feeding a ThreadPoolExecutor from the queue.

The dispatcher claims a job only when a worker thread is free (so no claimed job waits in
the executor while its lease ticks), renews the leases of running jobs, re-queues jobs
whose lease expired (a crashed process), and records what reads may not write (completed
jobs whose result image is gone: lost_results.py). A worker thread that finishes a job
claims the next queued one itself, without a round trip through the dispatcher. `notify()`
wakes it at once when a job is submitted; otherwise it looks again every POLL_SECONDS.

The app owns one JobWorker (services.of(app).worker); `start()` and `stop()` are
called by whoever serves requests (wsgi.py, tests), never at import.
"""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tryon.queue import jobs
from tryon.store import db

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
RETENTION_SWEEP_SECONDS = 600


class JobWorker:
    def __init__(self, database_path, runner, *, threads, lease_seconds, max_attempts,
                 webhooks=None, retention=None, lost_results=None):
        self._database_path = database_path
        self._runner = runner
        self._webhooks = webhooks          # WebhookSender: due deliveries, every loop
        self._retention = retention        # RetentionSweeper: every RETENTION_SWEEP_SECONDS
        self._lost_results = lost_results  # LostResults: what reads reported, every loop
        self._threads = threads
        self._lease_seconds = lease_seconds
        self._max_attempts = max_attempts
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._free_slots = threading.Semaphore(threads)
        self._leases = {}                 # job id -> Lease, for the jobs running here
        self._leases_lock = threading.Lock()
        self._executor = None
        self._dispatcher = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self):
        if self._dispatcher is not None or self._threads == 0:
            return
        self._stopping.clear()
        if self._webhooks is not None:
            self._webhooks.start()
        self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="tryon-job")
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="tryon-dispatcher",
                                            daemon=True)
        self._dispatcher.start()
        log.info("worker started with %d threads", self._threads)

    def stop(self, timeout=30):
        """Stop claiming jobs, let running jobs finish (up to `timeout` seconds)."""
        if self._dispatcher is None:
            return
        self._stopping.set()
        self._wake.set()
        self._dispatcher.join(timeout)
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._webhooks is not None:
            self._webhooks.stop()
        self._dispatcher = None
        log.info("worker stopped")

    def notify(self):
        """A job was queued: look at the queue now rather than at the next poll."""
        self._wake.set()

    def health(self):
        alive = self._dispatcher is not None and self._dispatcher.is_alive()
        with self._leases_lock:
            running = len(self._leases)
        return {"threads": self._threads, "dispatcherAlive": alive, "runningHere": running}

    # --- the dispatcher thread -----------------------------------------------------------

    def _dispatch_loop(self):
        self._runner.warm_up()
        conn = db.connect(self._database_path)
        next_maintenance = next_sweep = 0.0
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                if time.monotonic() >= next_maintenance:
                    _run_round(self._maintain, conn, "queue maintenance")
                    next_maintenance = time.monotonic() + self._maintenance_interval()
                if time.monotonic() >= next_sweep and self._retention is not None:
                    _run_round(self._retention.sweep, conn, "retention sweep")
                    next_sweep = time.monotonic() + RETENTION_SWEEP_SECONDS
                self._claim_while_free(conn)
                if self._lost_results is not None:
                    _run_round(self._lost_results.repair, conn, "recording lost results")
                if self._webhooks is not None:
                    _run_round(self._webhooks.send_due, conn, "sending webhooks")
                self._wake.wait(min(POLL_SECONDS, self._maintenance_interval()))
        except Exception:
            log.exception("dispatcher crashed; jobs will wait for a restart")
        finally:
            conn.close()

    def _maintenance_interval(self):
        return self._lease_seconds / 3

    def _maintain(self, conn):
        """Renew the leases of the jobs running here; recover jobs whose lease expired."""
        with self._leases_lock:
            leases = list(self._leases.values())
        lost = jobs.renew_leases(conn, leases, self._lease_seconds) if leases else []
        for job_id in lost:
            log.warning("lost the lease on job %s (another attempt owns it)", job_id)
        requeued, failed = jobs.recover_expired(conn, self._max_attempts)
        if requeued or failed:
            log.warning("recovered interrupted jobs: requeued %s, gave up %s", requeued, failed)

    def _claim_while_free(self, conn):
        while not self._stopping.is_set() and self._free_slots.acquire(blocking=False):
            claimed = self._claim(conn)
            if claimed is None:
                self._free_slots.release()
                return
            self._executor.submit(self._run_jobs, *claimed)

    def _claim(self, conn):
        """Claim the next queued job and hold its lease here; None if none (or on error)."""
        try:
            claimed = jobs.claim(conn, self._lease_seconds)
        except Exception:
            log.exception("claiming a job failed; retrying at the next round")
            return None
        if claimed is not None:
            job, lease = claimed
            with self._leases_lock:
                self._leases[job.id] = lease
        return claimed

    # --- worker threads ------------------------------------------------------------------

    def _run_jobs(self, job, lease):
        """Run the job, then claim and run the next ones while there are any: handing each
        job back to the dispatcher thread would make it wait for that thread's turn."""
        try:
            conn = db.connect(self._database_path)
        except Exception:
            log.exception("job %s: no database connection; the lease will expire and it "
                          "runs again", job.id)
            with self._leases_lock:
                self._leases.pop(job.id, None)  # no longer renewed: it expires
            conn = None
        try:
            while conn is not None:
                self._run_one(conn, job, lease)
                self._wake.set()  # the dispatcher sends the job's webhook, if any
                claimed = None if self._stopping.is_set() else self._claim(conn)
                if claimed is None:
                    break
                job, lease = claimed
        finally:
            if conn is not None:
                conn.close()
            self._free_slots.release()
            self._wake.set()

    def _run_one(self, conn, job, lease):
        try:
            self._runner.run(conn, job, lease)
        except Exception:
            log.exception("job %s: worker thread error; the lease will expire and it runs again",
                          job.id)
        finally:
            with self._leases_lock:
                self._leases.pop(job.id, None)


def _run_round(task, conn, what):
    """Run one periodic task of the dispatcher; a failure is logged and tried next round,
    never allowed to stop the dispatcher."""
    try:
        task(conn)
    except Exception:
        log.exception("%s failed; retrying at the next round", what)

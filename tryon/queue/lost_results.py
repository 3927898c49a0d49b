"""Completed jobs whose result image is gone: noticed by reads, recorded by the worker.

A read of a completed job (a status poll, the job list, a webhook's document) that finds
its result image missing answers failed / RESULT_UNAVAILABLE at once, but a read must not
write: it only reports the job here. The worker's dispatcher, in its periodic round, looks
at each reported job again and, when the image is still gone, fails the job and refunds
it (jobs.fail_lost_result, which does both once however often the job is reported), so
that the job list and the balance come to say what the poll said.

Reports live in memory: after a restart the next read of the job reports it again.
"""
import logging
import threading

from tryon.queue import jobs
from tryon.queue.jobs import JobState
from tryon.store.objects import StorageError

log = logging.getLogger(__name__)

# The words of the answer a read computes and of the row the repair records: the same, so
# that a poll before and after the repair reads the same document.
MESSAGE = ("The job completed but its result image is no longer available; its credit is "
           "refunded.")


class LostResults:
    # A bound on reports not yet recorded (a worker with no threads never records them):
    # reads still answer right without them, and the next read reports again.
    MAX_PENDING = 1000

    def __init__(self, store):
        self._store = store
        self._pending = set()
        self._lock = threading.Lock()

    def report(self, job_id):
        """A read found the result of `job_id` missing or unreadable."""
        with self._lock:
            if len(self._pending) < self.MAX_PENDING:
                self._pending.add(job_id)

    def repair(self, conn):
        """Fail and refund the reported jobs whose result is still gone; return how many."""
        with self._lock:
            reported, self._pending = self._pending, set()
        recorded = 0
        for job_id in reported:
            job = jobs.get(conn, job_id)
            if job is None or job.state != JobState.COMPLETED or self.readable(job.result_key):
                continue                    # deleted, repaired already, or the file is back
            if jobs.fail_lost_result(conn, job_id, MESSAGE):
                recorded += 1
        if recorded:
            log.warning("failed and refunded %d completed jobs whose result image is gone",
                        recorded)
        return recorded

    def readable(self, key):
        try:
            self._store.read(key)
        except StorageError:
            return False
        return True

"""Retention: delete the images of jobs that finished more than TRYON_RETENTION_DAYS ago.

People's photos are personal data; the job records stay (with their ledger rows), and
their status says that the images were deleted.
"""
import logging
from datetime import UTC, datetime, timedelta

from tryon.queue import jobs

log = logging.getLogger(__name__)


class RetentionSweeper:
    def __init__(self, store, retention_days):
        self._store = store
        self._retention_days = retention_days

    def sweep(self, conn, now=None):
        """Delete what is past retention; return the number of jobs swept."""
        if not self._retention_days:
            return 0
        now = now or datetime.now(UTC)
        cutoff = (now - timedelta(days=self._retention_days)).isoformat(timespec="milliseconds")
        swept = 0
        for job in jobs.jobs_past_retention(conn, cutoff.replace("+00:00", "Z")):
            for key in (job.person_key, job.garment_key, job.result_key):
                if key:
                    self._store.delete(key)
            jobs.mark_images_deleted(conn, job.id)
            swept += 1
        if swept:
            log.info("retention: deleted the images of %d jobs finished before %s", swept, cutoff)
        return swept

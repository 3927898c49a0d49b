"""Job state of the model server, in memory: a restart forgets every job (the API's `http`
provider then resubmits it once with the same Idempotency-Key, docs/providers.md).

The JobBook is the one place that holds jobs: it answers repeated Idempotency-Keys with the job
they started, keeps the queue bounded, hands queued jobs to the generation thread in order, and
counts what happened since start. Every method takes its lock, so request threads and the
generation thread can share it.
"""
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


FINISHED = (JobState.COMPLETED, JobState.FAILED)


@dataclass
class Job:
    id: str
    fingerprint: str                 # what the request asked for (inputs and options)
    idempotency_key: str | None
    inputs: object = None            # the decoded TryOnInput; dropped once the job has run
    state: JobState = JobState.QUEUED
    error: dict | None = None        # {"code", "name", "message"} once failed
    result_name: str | None = None   # file name in the results folder once completed
    created_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None


class QueueFull(Exception):
    """No room for another job; retry after `retry_after` seconds."""

    def __init__(self, retry_after):
        super().__init__(f"the queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class KeyReused(Exception):
    """The Idempotency-Key belongs to a job that asked for something else."""


class JobBook:
    def __init__(self, max_queue, clock=time.monotonic):
        self.max_queue = max_queue
        self._clock = clock
        self._jobs = {}
        self._by_key = {}
        self._queue = deque()
        self._running = 0
        self._completed = 0
        self._failed = 0
        self._seconds_per_job = None     # moving average, for Retry-After
        self._closed = False
        self._changed = threading.Condition()

    # --- request threads -------------------------------------------------------------------

    def check_room(self, key):
        """Raise QueueFull now, before the request's images are fetched and decoded, when a
        new job could not be queued anyway (a known key is answered whatever the queue)."""
        with self._changed:
            if key not in self._by_key and len(self._queue) >= self.max_queue:
                raise QueueFull(self._retry_after())

    def submit(self, key, fingerprint, inputs):
        """(job, created): the job the key already started, or a new queued one."""
        with self._changed:
            job = self._existing(key, fingerprint)
            if job is not None:
                return job, False
            if len(self._queue) >= self.max_queue:
                raise QueueFull(self._retry_after())
            job = self._add(key, fingerprint, inputs=inputs)
            self._queue.append(job)
            self._changed.notify_all()
            return job, True

    def submit_failed(self, key, fingerprint, error):
        """(job, created) for a request whose inputs cannot be used: it fails at once (it
        takes no place in the queue), and a repeat of the key gets the same failure."""
        with self._changed:
            job = self._existing(key, fingerprint)
            if job is not None:
                return job, False
            job = self._add(key, fingerprint)
            self._finish(job, JobState.FAILED, error=error)
            return job, True

    def get(self, job_id):
        with self._changed:
            return self._jobs.get(job_id)

    def counts(self):
        with self._changed:
            average = self._seconds_per_job
            return {"queueDepth": len(self._queue), "running": self._running,
                    "jobsCompleted": self._completed, "jobsFailed": self._failed,
                    "secondsPerJob": round(average, 3) if average is not None else None}

    # --- the generation thread -------------------------------------------------------------

    def next_job(self, timeout):
        """The oldest queued job, now running; None when none came within `timeout` or the
        book is closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._queue or self._closed, timeout=timeout)
            if self._closed or not self._queue:
                return None
            job = self._queue.popleft()
            job.state = JobState.RUNNING
            self._running += 1
            return job

    def generated(self, job, seconds):
        """The GPU is done with the job, whether it succeeded or not (its result may still be
        being written); the generation thread calls this once per job it took."""
        with self._changed:
            job.inputs = None
            self._running -= 1
            previous = self._seconds_per_job
            self._seconds_per_job = seconds if previous is None else 0.8 * previous + 0.2 * seconds

    def complete(self, job, result_name):
        with self._changed:
            self._finish(job, JobState.COMPLETED, result_name=result_name)

    def fail(self, job, error):
        with self._changed:
            job.inputs = None
            self._finish(job, JobState.FAILED, error=error)

    def close(self):
        """Wake the generation thread for good: it is stopping (queued jobs stay queued)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_finished(self, job, timeout):
        """True once the job has finished (long polls wait on this), False after `timeout`."""
        with self._changed:
            return self._changed.wait_for(lambda: job.state in FINISHED, timeout=timeout)

    # --- periodic --------------------------------------------------------------------------

    def forget_finished(self, older_than):
        """Drop jobs that finished more than `older_than` seconds ago (their results are swept
        from the folder on the same schedule); returns how many."""
        cutoff = self._clock() - older_than
        with self._changed:
            stale = [job for job in self._jobs.values()
                     if job.finished_at is not None and job.finished_at < cutoff]
            for job in stale:
                del self._jobs[job.id]
                if job.idempotency_key is not None:
                    self._by_key.pop(job.idempotency_key, None)
            return len(stale)

    # --- inside the lock -------------------------------------------------------------------

    def _existing(self, key, fingerprint):
        job = self._by_key.get(key) if key is not None else None
        if job is not None and job.fingerprint != fingerprint:
            raise KeyReused(key)
        return job

    def _add(self, key, fingerprint, inputs=None):
        job = Job(id=secrets.token_urlsafe(12), fingerprint=fingerprint, idempotency_key=key,
                  inputs=inputs, created_at=self._clock())
        self._jobs[job.id] = job
        if key is not None:
            self._by_key[key] = job
        return job

    def _finish(self, job, state, **fields):
        job.state = state
        for name, value in fields.items():
            setattr(job, name, value)
        job.finished_at = self._clock()
        if state == JobState.COMPLETED:
            self._completed += 1
        else:
            self._failed += 1
        self._changed.notify_all()

    def _retry_after(self):
        """Seconds until a place in the queue is likely free: one job's generation time."""
        seconds = self._seconds_per_job or 1.0
        return max(1, round(seconds))

"""Several model servers behind the `http` provider: the list TRYON_HTTP_PROVIDER_URL names,
how many of our jobs each one has in flight, and which one a new job goes to.

A model server runs one job at a time on its GPU and keeps the rest in a queue, so the
server with the fewest of our jobs in flight is the one likely to start ours first. The
count is this process's own (each job holds a claim on its server from its submission until
the provider's generate() returns), not the server's queue as other clients see it: cheap,
exact for our own jobs, and needing no extra request per job. Ties go to the first listed
server, so with one job at a time everything goes to the first one.

A server that turns a submission away (429 queue full, 503 not ready, or a connection that
was never made) has not started the job, so the next server is tried at once. Only when
every server has turned it away does the job wait (the retry back-off, never sooner than a
server's Retry-After asks) and go round again.
"""
import threading
from urllib.parse import urlsplit

from .. import errors
from .base import ProviderError
from .remote import Refused


def parse_server_urls(value):
    """The base URLs in a comma-separated setting, in order, without trailing slashes
    (blank entries, e.g. after a trailing comma, are ignored)."""
    entries = (entry.strip().rstrip("/") for entry in (value or "").split(","))
    return [entry for entry in entries if entry]


def url_problems(setting, urls):
    """What is wrong with each entry of the list, named by the entry."""
    problems = []
    for index, url in enumerate(urls):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"TRYON_{setting} entry {url!r} is not an http(s) URL")
        elif url in urls[:index]:
            problems.append(f"TRYON_{setting} lists {url!r} twice")
    return problems


class ServerPool:
    """The configured model servers and how many of our jobs each has in flight.

    Threads share one pool (the job worker runs several jobs at once), so every count
    changes under the lock, and choosing a server claims it in the same step: two jobs
    choosing at the same moment see each other's claim.
    """

    def __init__(self, urls):
        self.urls = list(urls)
        self._in_flight = dict.fromkeys(self.urls, 0)
        self._lock = threading.Lock()

    def is_configured(self, url):
        return url in self.urls

    def in_flight(self):
        """{url: our jobs in flight there}, a copy (servers no longer listed included while
        resumed jobs still run on them)."""
        with self._lock:
            return dict(self._in_flight)

    def claim(self, url):
        """Count one more of our jobs on `url` (a resumed job's saved server may be one that
        is no longer listed: it is counted all the same while the job runs there)."""
        with self._lock:
            self._in_flight[url] = self._in_flight.get(url, 0) + 1

    def release(self, url):
        with self._lock:
            self._in_flight[url] -= 1

    def place(self, send, *, http, deadline):
        """Send a new job to the least loaded server that takes it; return (url, answer).

        `send(url)` submits it to one server and returns its answer, raising Refused when
        that server turned it away. On return the job holds a claim on `url`, which the
        caller releases when the job is over.
        """
        if not self.urls:
            raise ProviderError(errors.CONSUMER_CONFIG_ERROR,
                                "TRYON_HTTP_PROVIDER_URL names no model server.", step="submit")
        not_before = {}     # url -> monotonic time its last Retry-After lets us come back
        rounds = 0
        while True:
            refusals = {}
            # Retry-After counts from the round's start: its refusals come milliseconds apart,
            # and a server that answered a moment after another must not miss the next round.
            started = http.timing.monotonic()
            for_now = self._due(not_before, started)
            while url := self._claim_least_loaded([u for u in for_now if u not in refusals]):
                try:
                    return url, send(url)
                except Refused as refusal:
                    self.release(url)
                    not_before[url] = started + refusal.retry_after
                    refusals[url] = refusal
                except BaseException:
                    self.release(url)
                    raise
            failure = _nobody_took_it(refusals)
            if rounds >= http.policy.max_retries:
                raise failure
            soonest = min(not_before.values()) - http.timing.monotonic()
            http.back_off(rounds, deadline=deadline, step="submit", failure=failure,
                          at_least=soonest)
            rounds += 1

    def _due(self, not_before, now):
        """The servers a round may try: those whose Retry-After has passed. After the wait
        between rounds the one that asked for the shortest wait counts as due, even if the
        clock reads a hair earlier than it asked."""
        if not_before:
            now = max(now, min(not_before.values()))
        return [url for url in self.urls if not_before.get(url, now) <= now]

    def _claim_least_loaded(self, candidates):
        """Claim and return the candidate with the fewest of our jobs (the first listed on a
        tie), or None when there is no candidate."""
        with self._lock:
            if not candidates:
                return None
            url = min(candidates, key=lambda candidate: (self._in_flight[candidate],
                                                         self.urls.index(candidate)))
            self._in_flight[url] += 1
            return url


def _nobody_took_it(refusals):
    """The failure once every server tried in a round ({url: Refused}) turned the job away:
    a single server's own failure as it is, several named one by one."""
    if len(refusals) == 1:
        return next(iter(refusals.values()))
    last = list(refusals.values())[-1]
    reasons = "; ".join(f"{url}: {refusal.message.rstrip('.')}"
                        for url, refusal in refusals.items())
    return ProviderError(last.error_code,
                         f"No model server took the job ({reasons})",
                         provider_error=last.provider_error,
                         provider_message=last.provider_message, step="submit")

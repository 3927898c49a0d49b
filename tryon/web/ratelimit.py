"""Rate limits on the API, per authenticated API key, and on the playground, per user.

flask-limiter owns the limiter (storage, strategy, the RATELIMIT_* settings) and serves the
dashboard's decorated limits. For the API the check is made here, straight on the
limiter's strategy: the API's limits depend only on the endpoint and the authenticated key,
and flask-limiter's per-request route resolution cost as much as the whole status request
(bench/bench_status.py). Limits count per key id, never per raw header value.

The playground submits jobs like the API, charged the same, so it gets the same submit
limit; a user's dashboard session counts like one more API key of that user (its own
counter), so a script on a key never eats the budget of the person at the browser.
"""
import threading
import time
from functools import lru_cache

from flask import current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from limits.storage import Storage
from limits.util import WindowStats

from tryon import services
from tryon.errors import ApiError
from tryon.web.security import MACHINE_PATHS

# Writes share the submit limit's setting, reads the status limit's; each endpoint counts
# on its own.
LIMITED_ENDPOINTS = {
    "api.submit": "RATE_LIMIT_SUBMIT",
    "api.cancel": "RATE_LIMIT_SUBMIT",
    "api.delete": "RATE_LIMIT_SUBMIT",
    "api.status": "RATE_LIMIT_STATUS",
    "api.list_jobs": "RATE_LIMIT_STATUS",
    "api.credits": "RATE_LIMIT_STATUS",
    "dashboard.playground_submit": "RATE_LIMIT_SUBMIT",
}


def init_app(app):
    limiter = Limiter(key_func=get_remote_address, app=app, headers_enabled=True,
                      storage_uri=app.config["RATE_LIMIT_STORAGE_URI"], strategy="fixed-window")
    limiter.request_filter(_checked_elsewhere)
    app.after_request(_add_headers)
    return limiter


def _checked_elsewhere():
    """flask-limiter's own pass skips the API (limited by check_api_limit) and the
    machine-facing endpoints, which have no decorated limits: it would find none, slowly."""
    return request.path.startswith(MACHINE_PATHS)


def check_api_limit(endpoint, key_id):
    """Count this request against the key's limit for `endpoint`; raise 429 when over."""
    setting = LIMITED_ENDPOINTS.get(endpoint)
    limiter = services.of(current_app).limiter
    if setting is None or not limiter.enabled:
        return
    storage = limiter.limiter.storage
    tightest = None
    for item in _parsed(current_app.config[setting]):
        stats = _hit_fixed_window(storage, item, endpoint, str(key_id))
        if tightest is None or stats.remaining < tightest[1].remaining:
            tightest = (item, stats)
        if stats.remaining < 0:
            g.rate_limit = (item, stats)
            retry_after = max(1, int(stats.reset_time - time.time()) + 1)
            raise ApiError(429, f"Too many requests: the limit is {item}; retry in "
                                f"{retry_after} s.", headers={"Retry-After": str(retry_after)})
    g.rate_limit = tightest


def check_playground_limit(user_id):
    """Count a playground submit against the user's submit limit; raise 429 when over."""
    check_api_limit("dashboard.playground_submit", f"user:{user_id}")


def _hit_fixed_window(storage, item, *identifiers):
    """Count one hit in the item's current window (the limiter's fixed-window strategy,
    which init_app sets); remaining < 0 means over the limit. The same storage calls as
    limits' FixedWindowRateLimiter.hit followed by get_window_stats, with the counter
    read once instead of twice."""
    counter = item.key_for(*identifiers)
    count = storage.incr(counter, item.get_expiry())
    return WindowStats(reset_time=storage.get_expiry(counter), remaining=item.amount - count)


@lru_cache(maxsize=16)
def _parsed(limit_text):
    return tuple(parse_many(limit_text))


def _add_headers(response):
    item, stats = g.pop("rate_limit", (None, None))
    if item is not None:
        response.headers["X-RateLimit-Limit"] = str(item.amount)
        response.headers["X-RateLimit-Remaining"] = str(max(0, stats.remaining))
        response.headers["X-RateLimit-Reset"] = str(int(stats.reset_time))
    return response


class LazyMemoryStorage(Storage):
    """In-process counters for fixed windows, expired when read: `tryon-memory://`.

    limits' own memory:// storage starts a timer thread every 10 ms while traffic flows to
    expire counters, which cost more than the rest of a status request (measured with
    bench/bench_status.py). Here expiry is checked on access, and stale keys are dropped in
    one pass at most once a minute.
    """

    STORAGE_SCHEME = ["tryon-memory"]
    SWEEP_SECONDS = 60

    def __init__(self, uri=None, wrap_exceptions=False, **options):
        self._counts = {}           # key -> [count, expires_at]
        self._lock = threading.Lock()
        self._next_sweep = time.time() + self.SWEEP_SECONDS
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self):
        return ValueError

    def incr(self, key, expiry, amount=1):
        now = time.time()
        with self._lock:
            self._sweep(now)
            entry = self._counts.get(key)
            if entry is None or entry[1] <= now:
                entry = self._counts[key] = [0, now + expiry]
            entry[0] += amount
            return entry[0]

    def get(self, key):
        with self._lock:
            entry = self._counts.get(key)
            return entry[0] if entry is not None and entry[1] > time.time() else 0

    def get_expiry(self, key):
        with self._lock:
            entry = self._counts.get(key)
            return entry[1] if entry is not None else time.time()

    def check(self):
        return True

    def reset(self):
        with self._lock:
            count = len(self._counts)
            self._counts.clear()
        return count

    def clear(self, key):
        with self._lock:
            self._counts.pop(key, None)

    def _sweep(self, now):
        if now < self._next_sweep:
            return
        self._counts = {key: entry for key, entry in self._counts.items() if entry[1] > now}
        self._next_sweep = now + self.SWEEP_SECONDS

"""/metrics in the Prometheus text format, and one structured log line per request.

Counted in this process: HTTP requests by route, method and status, and the duration of
finished jobs (a histogram, observed by the worker). Read from the database at scrape time:
jobs by state and provider, and the queue depth.

/metrics answers when TRYON_METRICS_TOKEN is given as a Bearer token, or, with no token
configured, to direct (not proxied) requests from the machine itself.
"""
import hmac
import ipaddress
import json
import logging
import threading
import time
from collections import defaultdict

from flask import Blueprint, Response, current_app, g, request

from tryon import services
from tryon.errors import ApiError
from tryon.queue import jobs
from tryon.queue.jobs import JobState
from tryon.web.database import get_db

JOB_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
# Label values must come from fixed sets: every distinct value is a series kept for the
# life of the process, and anyone, unauthenticated, chooses the method name of a request.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
UNMATCHED_ROUTE = "(unmatched)"
access_log = logging.getLogger("tryon.access")
bp = Blueprint("metrics", __name__)


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._requests = defaultdict(int)        # (route, method, status) -> count
        self._durations = defaultdict(lambda: [0] * (len(JOB_DURATION_BUCKETS) + 1))
        self._duration_sums = defaultdict(float)  # (provider, outcome) -> seconds

    def count_request(self, route, method, status):
        with self._lock:
            self._requests[(route, method, status)] += 1

    def observe_job(self, provider, outcome, seconds):
        with self._lock:
            counts = self._durations[(provider, outcome)]
            for index, bound in enumerate(JOB_DURATION_BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
            counts[-1] += 1                      # +Inf, which is also the total count
            self._duration_sums[(provider, outcome)] += seconds

    def render(self, jobs_by_state_and_provider, queue_depth):
        lines = ["# HELP tryon_jobs Jobs in the database by state and provider.",
                 "# TYPE tryon_jobs gauge"]
        for (state, provider), count in sorted(jobs_by_state_and_provider.items()):
            lines.append(f'tryon_jobs{{state="{state}",provider="{_escape(provider)}"}} {count}')
        lines += ["# HELP tryon_queue_depth Jobs waiting for a worker.",
                  "# TYPE tryon_queue_depth gauge", f"tryon_queue_depth {queue_depth}"]
        with self._lock:
            lines += self._render_requests() + self._render_durations()
        return "\n".join(lines) + "\n"

    def _render_requests(self):
        lines = ["# HELP tryon_http_requests_total HTTP requests by route, method and status.",
                 "# TYPE tryon_http_requests_total counter"]
        for (route, method, status), count in sorted(self._requests.items()):
            lines.append(f'tryon_http_requests_total{{route="{_escape(route)}",method="{method}",'
                         f'status="{status}"}} {count}')
        return lines

    def _render_durations(self):
        lines = ["# HELP tryon_job_duration_seconds Time from claim to finish of jobs run here.",
                 "# TYPE tryon_job_duration_seconds histogram"]
        for (provider, outcome), counts in sorted(self._durations.items()):
            labels = f'provider="{_escape(provider)}",outcome="{outcome}"'
            # counts has one more entry than the bounds: the +Inf bucket, written below.
            for bound, count in zip(JOB_DURATION_BUCKETS, counts, strict=False):
                lines.append(f'tryon_job_duration_seconds_bucket{{{labels},le="{bound}"}} {count}')
            lines.append(f'tryon_job_duration_seconds_bucket{{{labels},le="+Inf"}} {counts[-1]}')
            lines.append(f"tryon_job_duration_seconds_sum{{{labels}}} "
                         f"{self._duration_sums[(provider, outcome)]:.3f}")
            lines.append(f"tryon_job_duration_seconds_count{{{labels}}} {counts[-1]}")
        return lines


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@bp.get("/metrics")
def metrics():
    _authorize_scrape()
    conn = get_db()
    body = services.of(current_app).metrics.render(
        jobs.counts_by_state_and_provider(conn), jobs.count_in_state(conn, JobState.QUEUED))
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-store"})


def _authorize_scrape():
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(presented.encode(), token.encode()):
            return
        raise ApiError(401, "Send the metrics token as Authorization: Bearer <token>.",
                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    proxied = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    if proxied or not ipaddress.ip_address(request.remote_addr or "0.0.0.0").is_loopback:
        raise ApiError(403, "Metrics are served to this machine only, unless "
                            "TRYON_METRICS_TOKEN is set.")


# --- per-request bookkeeping -------------------------------------------------------------

def _start_timer():
    g.request_started = time.perf_counter()


def _count_and_log(response):
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
    method = request.method if request.method in KNOWN_METHODS else OTHER_METHOD
    services.of(current_app).metrics.count_request(route, method, response.status_code)
    if access_log.isEnabledFor(logging.INFO):
        _log_request(route, response)
    return response


def _log_request(route, response):
    elapsed_ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
    entry = {"method": request.method, "path": request.path, "route": route,
             "status": response.status_code, "ms": round(elapsed_ms, 1),
             "ip": request.remote_addr}
    job_id = (request.view_args or {}).get("job_id") or _job_id_of(response)
    if job_id:
        entry["jobId"] = job_id
    api_key = g.get("api_key")
    if api_key is not None:
        entry["key"] = api_key.prefix          # the display prefix only, never the key
    access_log.info(json.dumps(entry, separators=(",", ":")))


def _job_id_of(response):
    if response.status_code == 202 and response.is_json:
        return (response.get_json(silent=True) or {}).get("jobId")
    return None


def init_app(app):
    """Count and log requests; serve /metrics (the Metrics object is made by create_app)."""
    app.before_request(_start_timer)
    app.after_request(_count_and_log)
    app.register_blueprint(bp)

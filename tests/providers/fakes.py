"""One fake server per remote provider, each speaking that provider's documented protocol
(see the provider modules' docstrings and docs/providers.md).

Common knobs: `polls_needed` (status checks before a job finishes), `hold` (jobs stay
running), `failure` (how a job fails, in the provider's own format; None: it succeeds) and
`result_png` (the image behind the result URL). Answers to our mistakes (a missing or wrong
auth header) are part of each protocol; one-off failures are scripted by the tests.
"""
import itertools
import threading
import time
from urllib.parse import parse_qs

from tests.providers.fake_server import FakeServer, Reply, png_bytes


class FakeRemote(FakeServer):
    expected_auth = None

    def __init__(self):
        super().__init__()
        self.jobs = {}
        self.polls_needed = 2
        self.hold = threading.Event()   # set: jobs stay running
        self.failure = None
        self.result_png = png_bytes()
        self._ids = itertools.count(1)

    def new_job(self, body):
        job_id = f"job-{next(self._ids)}"
        self.jobs[job_id] = {"polls": 0, "body": body}
        return job_id

    def advance(self, job_id):
        """Count one status check; return "running", "failed" or "done"."""
        job = self.jobs[job_id]
        job["polls"] += 1
        if self.hold.is_set() or job["polls"] < self.polls_needed:
            return "running"
        return "failed" if self.failure is not None else "done"

    def authorized(self, headers):
        return headers.get("Authorization") == self.expected_auth


class FakeFashn(FakeRemote):
    """POST /v1/run, GET /v1/status/{id}; results on a CDN path."""
    expected_auth = "Bearer fashn-test-key"

    def route(self, method, path, body, headers):
        if path.startswith("/cdn/"):
            return Reply(body=self.result_png, headers={"Content-Type": "image/png"})
        if not self.authorized(headers):
            return Reply(401, {"error": "UnauthorizedAccess",
                               "message": "Unauthorized: Invalid token"})
        if method == "POST" and path == "/v1/run":
            return Reply(body={"id": self.new_job(body), "error": None})
        if method == "GET" and path.startswith("/v1/status/"):
            job_id = path.rsplit("/", 1)[1]
            if job_id not in self.jobs:
                return Reply(404, {"error": "NotFound", "message": "Prediction not found"})
            state = self.advance(job_id)
            answer = {"id": job_id, "status": "processing", "output": None, "error": None}
            if state == "failed":
                answer.update(status="failed", error=self.failure)
            elif state == "done":
                answer.update(status="completed", output=[f"{self.url}/cdn/{job_id}.png"])
            return Reply(body=answer)
        return Reply(404, {"error": "NotFound", "message": path})


class FakeReplicate(FakeRemote):
    """POST /v1/predictions, GET urls.get; results on a delivery path."""
    expected_auth = "Bearer r8_test_token"

    def route(self, method, path, body, headers):
        if path.startswith("/delivery/"):
            return Reply(body=self.result_png, headers={"Content-Type": "image/png"})
        if not self.authorized(headers):
            return Reply(401, {"title": "Unauthenticated",
                               "detail": "You did not pass a valid authentication token",
                               "status": 401})
        if method == "POST" and path == "/v1/predictions":
            job_id = self.new_job(body)
            return Reply(201, self._prediction(job_id, "starting"))
        if method == "GET" and path.startswith("/v1/predictions/"):
            job_id = path.rsplit("/", 1)[1]
            if job_id not in self.jobs:
                return Reply(404, {"title": "Not found", "detail": "Not found.", "status": 404})
            state = self.advance(job_id)
            if state == "failed":
                return Reply(body=self._prediction(job_id, "failed", error=self.failure))
            if state == "done":
                return Reply(body=self._prediction(
                    job_id, "succeeded", output=f"{self.url}/delivery/{job_id}/out.png"))
            return Reply(body=self._prediction(job_id, "processing"))
        return Reply(404, {"detail": "Not found."})

    def _prediction(self, job_id, status, output=None, error=None):
        return {"id": job_id, "status": status, "input": self.jobs[job_id]["body"]["input"],
                "output": output, "error": error, "logs": "",
                "urls": {"get": f"{self.url}/v1/predictions/{job_id}",
                         "cancel": f"{self.url}/v1/predictions/{job_id}/cancel"}}


class FakeFal(FakeRemote):
    """POST /{model}, then the returned status_url / response_url, which drop the model's
    sub-path as fal's do (fal-ai/leffa/virtual-tryon -> fal-ai/leffa/requests/{id})."""
    expected_auth = "Key fal-test-key"

    def route(self, method, path, body, headers):
        if path.startswith("/media/"):
            return Reply(body=self.result_png, headers={"Content-Type": "image/png"})
        if not self.authorized(headers):
            return Reply(401, {"detail": "Invalid Key", "error_type": "unauthorized"},
                         headers={"X-Fal-Error-Type": "unauthorized"})
        parts = path.strip("/").split("/")
        if method == "POST" and "requests" not in parts:
            app_path = "/".join(parts[:2])
            job_id = self.new_job({"model": "/".join(parts), **body})
            base = f"{self.url}/{app_path}/requests/{job_id}"
            return Reply(body={"request_id": job_id, "status": "IN_QUEUE", "queue_position": 0,
                               "status_url": base + "/status", "response_url": base,
                               "cancel_url": base + "/cancel"})
        if method == "GET" and "requests" in parts:
            job_id = parts[parts.index("requests") + 1]
            if job_id not in self.jobs:
                return Reply(404, {"detail": "Request not found"})
            if parts[-1] == "status":
                if self.advance(job_id) == "running":
                    return Reply(202, {"status": "IN_PROGRESS", "request_id": job_id})
                return Reply(200, {"status": "COMPLETED", "request_id": job_id})
            if self.failure is not None:
                return self.failure   # the model's error answer, a Reply
            image = {"url": f"{self.url}/media/{job_id}.png", "content_type": "image/png"}
            if self.jobs[job_id]["body"]["model"].startswith("fal-ai/fashn/"):
                return Reply(body={"images": [image]})
            return Reply(body={"image": image, "seed": 42})
        return Reply(404, {"detail": "Not found"})


class FakeModelServer(FakeRemote):
    """Our own `http` contract: POST /v1/tryon (Idempotency-Key), GET /v1/tryon/{id}; the
    result image is served by the model server itself, behind the same token.

    Like a real model server it keeps jobs in memory only: `forget_jobs()` is a restart, and
    `restart_before_checks` ({1, 3}: before the first and the third status check) makes one
    happen at an exact point of a job. Job ids never repeat, across restarts too.
    """
    expected_auth = "Bearer gpu-box-token"

    def __init__(self):
        super().__init__()
        self.by_idempotency_key = {}
        self.honour_wait = False   # True: a running job's status is held for ?wait= seconds
        self.restart_before_checks = set()
        self._status_checks = 0

    def forget_jobs(self):
        """What a restart does to the server's in-memory state."""
        self.jobs.clear()
        self.by_idempotency_key.clear()

    def route(self, method, path, body, headers):
        if not self.authorized(headers):
            return Reply(401, {"error": {"code": "UNAUTHORIZED", "message": "bad token"}})
        if path.startswith("/results/"):
            return Reply(body=self.result_png, headers={"Content-Type": "image/png"})
        if method == "POST" and path == "/v1/tryon":
            key = headers.get("Idempotency-Key")
            if key not in self.by_idempotency_key:
                self.by_idempotency_key[key] = self.new_job(body)
            return Reply(202, {"id": self.by_idempotency_key[key], "status": "queued"})
        if method == "GET" and path.startswith("/v1/tryon/"):
            job_id = path.rsplit("/", 1)[1]
            self._status_checks += 1
            if self._status_checks in self.restart_before_checks:
                self.forget_jobs()
            if job_id not in self.jobs:
                return Reply(404, {"error": {"code": "NOT_FOUND", "message": "no such job"}})
            state = self.advance(job_id)
            if state == "failed":
                return Reply(body={"id": job_id, "status": "failed", "error": self.failure})
            if state == "done":
                return Reply(body={"id": job_id, "status": "completed",
                                   "output": {"image_url": f"{self.url}/results/{job_id}.png"}})
            return Reply(body={"id": job_id, "status": "running"})
        return Reply(404, {"error": {"code": "NOT_FOUND", "message": path}})

    def route_with_query(self, method, path, body, headers, query):
        reply = self.route(method, path, body, headers)
        wait = parse_qs(query).get("wait", ["0"])[0]
        if self.honour_wait and isinstance(reply.body, dict) and \
                reply.body.get("status") == "running":
            time.sleep(float(wait))   # stands in for a job that goes on running meanwhile
        return reply

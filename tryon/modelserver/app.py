"""The model server's HTTP side: the `http` provider contract (docs/providers.md) plus
/livez, /readyz and /v1/info for operators. Request threads check, decode and queue; they
never run the model. Every error is JSON: {"error": {"code", "message"}}.
"""
import hashlib
import hmac
import json

from flask import Flask, jsonify, request, send_file, url_for
from werkzeug.exceptions import HTTPException

from .inputs import BadRequest, UnusableImage, parse_body
from .jobs import JobState, KeyReused, QueueFull
from .readiness import Stage

NOT_READY_RETRY_SECONDS = 5
MAX_IDEMPOTENCY_KEY = 200
# GET /v1/tryon/{id}?wait=S holds the answer until the job finishes or S seconds pass: the
# caller learns of a result the moment it exists, without polling. Capped, so a waiting
# request never outlives the caller's own timeout (the API's is 60 s).
MAX_WAIT_SECONDS = 30


class ApiError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status, code, message, headers=None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def create_app(server):
    """`server` is the ModelServer whose parts the routes use (tryon.modelserver.server)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = server.settings.max_request_bytes
    app.json.sort_keys = False
    _register_errors(app)
    _register_health(app, server)
    _register_jobs(app, server)
    return app


def _register_errors(app):
    @app.errorhandler(ApiError)
    def api_error(exc):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        code = (exc.name or "error").upper().replace(" ", "_")
        headers = {name: value for name, value in exc.get_headers()
                   if name in ("Allow", "Retry-After")}
        return error_response(exc.code, code, exc.description or exc.name, headers)

    @app.errorhandler(Exception)
    def internal_error(exc):
        app.logger.exception("unexpected error")
        return error_response(500, "INTERNAL_ERROR", "the model server failed unexpectedly")


def _register_health(app, server):
    @app.get("/livez")
    def livez():
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        stage, progress, error = server.readiness.snapshot()
        if stage == Stage.READY:
            return {"state": stage.value}
        body = {"state": stage.value, "progress": round(progress, 3)}
        if error:
            body["error"] = error
        return body, 503, {"Retry-After": str(NOT_READY_RETRY_SECONDS)}

    @app.get("/v1/info")
    def info():
        _authorize(server)
        return server.info()


def _register_jobs(app, server):
    @app.post("/v1/tryon")
    def submit():
        _authorize(server)
        stage, progress, _ = server.readiness.snapshot()
        if stage != Stage.READY:
            raise ApiError(503, "NOT_READY", f"the model is not ready yet ({stage.value}, "
                           f"{progress:.0%})", {"Retry-After": str(NOT_READY_RETRY_SECONDS)})
        key = _idempotency_key()
        try:
            parsed = parse_body(request.get_data(cache=False))
        except BadRequest as exc:
            raise ApiError(400, "VALIDATION_FAILED", str(exc)) from None
        try:
            server.book.check_room(key)
            job, created = _queue(server, key, parsed)
        except QueueFull as exc:
            raise ApiError(429, "QUEUE_FULL", str(exc),
                           {"Retry-After": str(exc.retry_after)}) from None
        except KeyReused:
            raise ApiError(409, "IDEMPOTENCY_KEY_REUSED",
                           "this Idempotency-Key was used for a different request") from None
        return _job_view(job), 202 if created else 200

    @app.get("/v1/tryon/<job_id>")
    def status(job_id):
        _authorize(server)
        wait = _wait_seconds()
        job = server.book.get(job_id)
        if job is None:
            raise ApiError(404, "NOT_FOUND", "no such job (finished jobs are kept "
                           f"{server.settings.result_ttl} s; a restart forgets all)")
        if wait:
            server.book.wait_finished(job, wait)
        return _job_view(job)

    @app.get("/v1/results/<name>")
    def result(name):
        _authorize(server)
        path = server.results.path(name)
        if path is None:
            raise ApiError(404, "NOT_FOUND", "no such result, or it has expired")
        response = send_file(path, mimetype="image/jpeg", max_age=0)
        response.headers["Cache-Control"] = "private, no-store"
        return response


def _queue(server, key, parsed):
    try:
        fingerprint, tryon_input = server.reader.read(parsed)
    except UnusableImage as exc:
        fingerprint = _request_fingerprint(parsed)
        error = {"code": exc.code, "name": exc.code, "message": exc.message}
        return server.book.submit_failed(key, fingerprint, error)
    return server.book.submit(key, fingerprint, tryon_input)


def _request_fingerprint(parsed):
    text = json.dumps([parsed.person_ref, parsed.garment_ref, parsed.options], sort_keys=True)
    return "request:" + hashlib.sha256(text.encode()).hexdigest()


def _wait_seconds():
    text = request.args.get("wait", "")
    if not text:
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT_SECONDS:   # also refuses nan and inf
        raise ApiError(400, "VALIDATION_FAILED",
                       f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS}")
    return seconds


def _idempotency_key():
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise ApiError(400, "VALIDATION_FAILED", "Idempotency-Key must be printable ASCII of "
                       f"at most {MAX_IDEMPOTENCY_KEY} characters")
    return key


def _authorize(server):
    token = server.settings.token
    if not token:
        return
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        raise ApiError(401, "UNAUTHORIZED", "a valid bearer token is required",
                       {"WWW-Authenticate": "Bearer"})


def _job_view(job):
    view = {"id": job.id, "status": job.state.value}
    if job.state == JobState.COMPLETED:
        view["output"] = {"image_url": url_for("result", name=job.result_name,
                                               _external=True)}
    elif job.state == JobState.FAILED:
        view["error"] = job.error
    return view

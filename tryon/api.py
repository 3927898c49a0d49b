"""The public API under /api/v1: submit a try-on job and read its status."""
import base64
import json
import uuid

from flask import Blueprint, current_app, g, jsonify, request, url_for

from . import accounts, errors, jobs, submissions
from .db import get_db
from .errors import ApiError, error_response
from .storage import StorageError

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PUBLIC_STATUS = {"queued": "processing", "running": "processing",
                 "completed": "completed", "failed": "failed"}


# --- authentication --------------------------------------------------------------------

def current_api_key():
    """The ApiKey of this request (Authorization: Bearer, or X-API-Key), or ApiError 401.

    Only these headers count: the dashboard's session cookie is never accepted here.
    """
    if "api_key" not in g:
        presented = _presented_key()
        key = accounts.authenticate_key(get_db(), presented) if presented else None
        if key is None:
            challenge = 'Bearer realm="tryon"' if presented is None else \
                'Bearer realm="tryon", error="invalid_token"'
            message = ("Missing API key: send Authorization: Bearer <key>."
                       if presented is None else "Invalid or revoked API key.")
            raise ApiError(401, message, headers={"WWW-Authenticate": challenge})
        g.api_key = key
    return g.api_key


def _presented_key():
    header = request.headers.get("Authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    api_key = request.headers.get("X-API-Key")
    return api_key.strip() if api_key is not None else None


def rate_limit_bucket():
    """Rate limits count per authenticated key (never per raw header value)."""
    return f"api-key:{current_api_key().id}"


# --- submit ----------------------------------------------------------------------------

@bp.post("/tryon")
def submit():
    key = current_api_key()
    job_id = submissions.submit_from_request(request, user_id=key.user_id, api_key_id=key.id)
    status_url = url_for("api.status", job_id=job_id)
    response = jsonify({"jobId": job_id, "statusUrl": status_url})
    response.status_code = 202
    response.headers["Location"] = public_base_url() + status_url
    return response


# --- status ----------------------------------------------------------------------------

@bp.get("/tryon/status/<job_id>")
def status(job_id):
    key = current_api_key()
    job = _job_or_404(job_id)
    if job["user_id"] != key.user_id:
        raise ApiError(403, "This job belongs to another account.")
    return jsonify(status_body(job))


def _job_or_404(job_id):
    try:
        canonical = str(uuid.UUID(job_id))
    except ValueError:
        canonical = None
    job = jobs.get(get_db(), canonical) if canonical == job_id.lower() else None
    if job is None:
        raise ApiError(404, f"No job with the id {job_id}.")
    return job


def status_body(job):
    body = {"jobId": job["id"], "status": PUBLIC_STATUS[job["state"]]}
    if job["state"] in ("queued", "running"):
        body.update(_processing_fields(job))
    elif job["state"] == "completed":
        body.update(_completed_fields(job))
    else:
        body.update(_failed_fields(json.loads(job["result"] or "{}"), job["error"],
                                   job["error_code"]))
    body["createdAt"] = job["created_at"]
    body["updatedAt"] = job["updated_at"]
    return body


def _processing_fields(job):
    if job["state"] == "queued":
        position, length = jobs.queue_position(get_db(), job)
        message = f"Job is queued: position {position} of {length}."
        return {"message": message, "result": {"stage": "queued", "queuePosition": position}}
    message = "Job is generating the try-on image."
    if job["attempts"] > 1:
        message = f"Job is generating the try-on image (attempt {job['attempts']})."
    return {"message": message, "result": {"stage": "generating", "attempt": job["attempts"]}}


def _completed_fields(job):
    result = json.loads(job["result"] or "{}")
    store = current_app.extensions["tryon.store"]
    key = job["result_key"]
    if not store.exists(key):
        return _failed_fields(
            {**result, "step": "deliver_result"},
            "The job completed but its result image is no longer available.",
            errors.RESULT_UNAVAILABLE)
    fields = {"result": result}
    delivery = current_app.config["RESULT_DELIVERY"]
    if delivery in ("url", "both"):
        signer = current_app.extensions["tryon.signer"]
        image_url = public_base_url() + signer.signed_path(key)
        fields["imageUrl"] = image_url
        fields["resultImageUrl"] = image_url  # the name the documented examples read
    if delivery in ("base64", "both"):
        try:
            fields["imageBase64"] = base64.b64encode(store.read(key)).decode("ascii")
        except StorageError:
            return _failed_fields({**result, "step": "deliver_result"},
                                  "The result image could not be read.",
                                  errors.RESULT_UNAVAILABLE)
    return fields


def _failed_fields(result, message, error_code):
    result = {**result, "error": message, "errorCode": error_code}
    return {"status": "failed", "error": message, "errorCode": error_code, "result": result}


def public_base_url():
    configured = current_app.config.get("PUBLIC_BASE_URL")
    return (configured or request.host_url).rstrip("/")


# --- errors: everything under /api/ answers JSON ---------------------------------------

@bp.errorhandler(ApiError)
def handle_api_error(exc):
    return error_response(exc.status, exc.message, exc.error_code, exc.headers)

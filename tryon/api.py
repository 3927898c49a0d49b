"""The public API under /api/v1: submit a try-on job and read its status."""
import base64
import json
import uuid

from flask import Blueprint, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from . import accounts, errors, jobs
from .db import get_db
from .errors import ApiError, error_response
from .images import ImageRejected, normalize
from .storage import StorageError

bp = Blueprint("api", __name__, url_prefix="/api/v1")

IMAGE_FIELDS = (("person_images", "person"), ("garment_images", "garment"))
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
    if request.mimetype != "multipart/form-data":
        raise ApiError(400, "Send the images as multipart/form-data with the fields "
                            "person_images and garment_images.")
    job_id = str(uuid.uuid4())
    images = {label: _normalized_upload(field, label) for field, label in IMAGE_FIELDS}
    config = current_app.config
    store = current_app.extensions["tryon.store"]
    stored_keys = _store_inputs(store, job_id, images)
    try:
        jobs.enqueue(get_db(), job_id=job_id, user_id=key.user_id, api_key_id=key.id,
                     provider=config["PROVIDER"], person_key=stored_keys["person"],
                     garment_key=stored_keys["garment"], cost=config["JOB_COST"])
    except accounts.InsufficientCredits:
        _delete_quietly(store, stored_keys.values())
        raise ApiError(402, f"Insufficient credits: a job costs {config['JOB_COST']} credit(s); "
                            f"your balance is {accounts.balance(get_db(), key.user_id)}.")
    except BaseException:
        _delete_quietly(store, stored_keys.values())
        raise
    current_app.extensions["tryon.worker"].notify()
    status_url = url_for("api.status", job_id=job_id)
    response = jsonify({"jobId": job_id, "statusUrl": status_url})
    response.status_code = 202
    response.headers["Location"] = public_base_url() + status_url
    return response


def _normalized_upload(field, label):
    files = request.files.getlist(field)
    if not files:
        text = request.form.get(field)
        if text and text.strip().lower().startswith(("http://", "https://")):
            raise ApiError(400, f"{field} must be an uploaded image file: public URLs are not "
                                "supported yet.")
        if text is not None:
            raise ApiError(400, f"{field} must be an uploaded image file, not a text field.")
        raise ApiError(400, f"Missing required field {field}: upload one {label} image file.")
    if len(files) > 1:
        raise ApiError(400, f"{field} takes exactly one image file; {len(files)} were sent.")
    config = current_app.config
    try:
        return normalize(files[0].read(), f"{field} ({label} image)",
                         max_pixels=config["MAX_IMAGE_PIXELS"],
                         min_side=config["MIN_IMAGE_SIDE"])
    except ImageRejected as exc:
        raise ApiError(400, str(exc)) from None


def _store_inputs(store, job_id, images):
    keys = {}
    try:
        for label, image in images.items():
            key = f"inputs/{job_id}/{label}.{image.extension}"
            store.put(key, image.data)
            keys[label] = key
    except StorageError as exc:
        _delete_quietly(store, keys.values())
        current_app.logger.error("could not store inputs of %s: %s", job_id, exc)
        raise ApiError(507, "The images could not be stored; try again later.",
                       errors.STORAGE_FAILED) from None
    return keys


def _delete_quietly(store, keys):
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # best effort: the request is failing already
            current_app.logger.exception("could not delete %s", key)


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

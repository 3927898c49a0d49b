"""Turning a submitted form into a queued job; shared by the API and the dashboard.

Order matters for "loses nothing": both images are checked before anything is written,
then stored, then the job row and its debit are inserted in one transaction; if that
fails (402, or anything else) the stored images are deleted again.
"""
import uuid

from flask import current_app

from . import accounts, errors, jobs
from .db import get_db
from .errors import ApiError
from .images import ImageRejected, normalize
from .storage import StorageError

IMAGE_FIELDS = (("person_images", "person"), ("garment_images", "garment"))


def submit_from_request(request, *, user_id, api_key_id=None):
    """Validate, store and queue the request's images; return the new job id or raise ApiError."""
    if request.mimetype != "multipart/form-data":
        raise ApiError(400, "Send the images as multipart/form-data with the fields "
                            "person_images and garment_images.")
    images = {label: _normalized_upload(request, field, label) for field, label in IMAGE_FIELDS}
    job_id = str(uuid.uuid4())
    config = current_app.config
    store = current_app.extensions["tryon.store"]
    stored_keys = _store_inputs(store, job_id, images)
    try:
        jobs.enqueue(get_db(), job_id=job_id, user_id=user_id, api_key_id=api_key_id,
                     provider=config["PROVIDER"], person_key=stored_keys["person"],
                     garment_key=stored_keys["garment"], cost=config["JOB_COST"])
    except accounts.InsufficientCredits:
        _delete_quietly(store, stored_keys.values())
        raise ApiError(402, f"Insufficient credits: a job costs {config['JOB_COST']} credit(s); "
                            f"your balance is {accounts.balance(get_db(), user_id)}.") from None
    except BaseException:
        _delete_quietly(store, stored_keys.values())
        raise
    current_app.extensions["tryon.worker"].notify()
    return job_id


def _normalized_upload(request, field, label):
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

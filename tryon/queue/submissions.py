"""Turning a submitted form into a queued job; shared by the API and the dashboard.

Order matters for "loses nothing": both uploaded images are checked before anything is
written, then stored, then the job row, its debit and its idempotency key are inserted in
one transaction; if that fails (402, or anything else) the stored images are deleted
again. A URL input is only checked for what needs no network here (its form, an address it
spells out); the job downloads it (tryon/media/url_inputs.py says why), so the job row keeps the
URL and the key the download will be stored under.

Submits in one process write their inputs one at a time (the Submissions object's lock);
checking images and the enqueue transaction still run side by side. Without it, a
burst of submits stalled the job worker threads for 100 ms and more at BEGIN IMMEDIATE,
where SQLite's busy handler backs off in growing sleeps while the burst keeps the write
lock busy. With it, bench/bench_queue.py's burst of 32 jobs went
from p50 ~120 / p99 ~300 ms to 13-18 / 49-75 ms, for about 7 % of submit throughput (the
README's Benchmarks section lists the variants measured).
"""
import hashlib
import json
import logging
import threading
import uuid
from dataclasses import dataclass

from tryon import errors
from tryon.errors import ApiError
from tryon.media import url_inputs
from tryon.media.images import STORED_EXTENSION, ImageRejected
from tryon.media.safe_http import FetchFailed, UnsafeUrl
from tryon.queue import jobs
from tryon.store import accounts
from tryon.store.objects import StorageError

log = logging.getLogger(__name__)

IMAGE_FIELDS = tuple((field, label) for label, field in url_inputs.FIELDS.items())
CATEGORIES = ("auto", "tops", "bottoms", "one-pieces")
MAX_SEED = 2**32 - 1
MAX_DESCRIPTION_LENGTH = 1000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Submission:
    job_id: str
    replayed: bool      # True when an Idempotency-Key returned an earlier request's job


@dataclass(frozen=True)
class RawInput:
    """One image field as sent: uploaded bytes, or a URL to fetch."""
    field: str
    label: str
    data: bytes = b""
    url: str = ""

    def fingerprint(self):
        return "url:" + self.url if self.url else "file:" + hashlib.sha256(self.data).hexdigest()


class Submissions:
    """Checks, stores and queues submitted forms; built once by create_app.

    `request` is a werkzeug request (form, files, headers, mimetype) and `conn` the caller's
    database connection: nothing here looks anything up from Flask.
    """

    def __init__(self, *, store, http, images, worker, provider, job_cost, allow_url_inputs):
        self._store = store
        self._http = http
        self._images = images
        self._worker = worker
        self._provider = provider
        self._job_cost = job_cost
        self._allow_url_inputs = allow_url_inputs
        self._input_writes = threading.Lock()  # one at a time: see the module's docstring

    def submit(self, conn, request, *, user_id, api_key_id=None, base_url=None):
        """Validate, store and queue the request's images; a Submission, or ApiError."""
        if request.mimetype != "multipart/form-data":
            raise ApiError(400, "Send the images as multipart/form-data with the fields "
                                "person_images and garment_images.")
        raw_inputs = [self._raw_input(request, field, label) for field, label in IMAGE_FIELDS]
        options = parse_options(request.form, self._checked_webhook_url)
        idempotency = _idempotency(request, raw_inputs, options)
        if idempotency is not None:
            earlier = _find_earlier(conn, user_id, idempotency)
            if earlier is not None:
                return Submission(earlier, replayed=True)
        images = {raw.label: self._normalized(raw) for raw in raw_inputs if not raw.url}
        urls = {raw.label: raw.url for raw in raw_inputs if raw.url}
        job = NewJob(str(uuid.uuid4()), user_id, api_key_id, base_url, options, idempotency)
        return self._store_and_enqueue(conn, job, images, urls)

    def _store_and_enqueue(self, conn, job, images, urls):
        stored_keys = {}
        if images:
            with self._input_writes:
                stored_keys = _store_inputs(self._store, job.job_id, images)
        keys = {**{label: input_key(job.job_id, label) for label in urls}, **stored_keys}
        try:
            standing_job = jobs.enqueue(
                conn, job_id=job.job_id, user_id=job.user_id, api_key_id=job.api_key_id,
                provider=self._provider, person_key=keys["person"],
                garment_key=keys["garment"], cost=self._job_cost, options=job.options,
                base_url=job.base_url, idempotency=job.idempotency, urls=urls)
        except accounts.InsufficientCredits:
            _delete_quietly(self._store, stored_keys.values())
            raise ApiError(402, f"Insufficient credits: a job costs {self._job_cost} "
                                f"credit(s); your balance is "
                                f"{accounts.balance(conn, job.user_id)}.") from None
        except jobs.IdempotencyConflict:
            _delete_quietly(self._store, stored_keys.values())
            raise _idempotency_conflict() from None
        except BaseException:
            _delete_quietly(self._store, stored_keys.values())
            raise
        if standing_job != job.job_id:   # a concurrent retry with the same key got there first
            _delete_quietly(self._store, stored_keys.values())
            return Submission(standing_job, replayed=True)
        self._worker.notify()
        return Submission(job.job_id, replayed=False)

    def _checked_webhook_url(self, url):
        try:
            self._http.check_url(url)
        except (UnsafeUrl, FetchFailed) as exc:
            raise ApiError(400, f"webhook_url cannot be used: {exc}.") from None
        return url

    def _raw_input(self, request, field, label):
        files = request.files.getlist(field)
        texts = request.form.getlist(field)
        if len(files) > 1:
            raise ApiError(400, f"{field} takes exactly one image file; {len(files)} were sent.")
        if files and texts:  # which one the caller meant is a guess: refuse rather than pick
            raise ApiError(400, f"{field} got both an uploaded file and a text value; send one "
                                "image file or one URL.")
        if files:
            return RawInput(field, label, data=files[0].read())
        if len(texts) > 1:
            raise ApiError(400, f"{field} takes exactly one image; {len(texts)} were sent.")
        if not texts:
            raise ApiError(400, f"Missing required field {field}: upload one {label} image "
                                "file or give its URL.")
        return RawInput(field, label, url=self._checked_input_url(field, texts[0].strip()))

    def _checked_input_url(self, field, text):
        if not text.lower().startswith(("http://", "https://")):
            raise ApiError(400, f"{field} must be an image file or an http(s) URL.")
        if not self._allow_url_inputs:
            raise ApiError(400, f"{field} must be an uploaded image file: URL inputs are turned "
                                "off on this server (TRYON_ALLOW_URL_INPUTS).")
        try:
            # Only what needs no network: DNS and the download would hold this request thread.
            self._http.check_url_form(text)
        except UnsafeUrl as exc:
            raise ApiError(400, f"{field}: the URL could not be used: {exc}.") from None
        return text

    def _normalized(self, raw):
        try:
            return self._images.normalize(raw.data, url_inputs.input_label(raw.label))
        except ImageRejected as exc:
            raise ApiError(400, str(exc)) from None


@dataclass(frozen=True)
class NewJob:
    """Who submits the job, and what it asks for, on its way to jobs.enqueue."""
    job_id: str
    user_id: int
    api_key_id: int | None
    base_url: str | None
    options: dict
    idempotency: tuple | None


# --- options -----------------------------------------------------------------------------

def parse_options(form, check_webhook_url):
    """The optional fields of a submit, checked; only those that were sent."""
    options = {}
    category = form.get("category")
    if category is not None:
        category = category.strip().lower()
        if category not in CATEGORIES:
            raise ApiError(400, f"category must be one of {', '.join(CATEGORIES)}.")
        options["category"] = category
    if form.get("seed") is not None:
        options["seed"] = _seed(form["seed"])
    if form.get("fast_mode") is not None:
        options["fast_mode"] = _flag("fast_mode", form["fast_mode"])
    description = form.get("garment_description")
    if description is not None:
        if len(description) > MAX_DESCRIPTION_LENGTH:
            raise ApiError(400, f"garment_description is longer than {MAX_DESCRIPTION_LENGTH} "
                                "characters.")
        options["garment_description"] = description.strip()
    webhook_url = form.get("webhook_url")
    if webhook_url is not None:
        options["webhook_url"] = check_webhook_url(webhook_url.strip())
    return options


def _seed(text):
    text = text.strip()
    # int() also reads other scripts' digits ("٣" is 3) and "+3" or "1_000": the docs
    # promise ASCII digits, so only those are read.
    seed = int(text) if text.isascii() and text.isdigit() else -1
    if not 0 <= seed <= MAX_SEED:
        raise ApiError(400, f"seed must be a whole number from 0 to {MAX_SEED}.")
    return seed


def _flag(name, text):
    value = text.strip().lower()
    if value not in _TRUE + _FALSE:
        raise ApiError(400, f"{name} must be true or false.")
    return value in _TRUE


# --- idempotency ---------------------------------------------------------------------------

def _idempotency(request, raw_inputs, options):
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise ApiError(400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} "
                            "printable characters.")
    fingerprint = json.dumps([[raw.fingerprint() for raw in raw_inputs], options],
                             sort_keys=True)
    return key, hashlib.sha256(fingerprint.encode()).hexdigest()


def _find_earlier(conn, user_id, idempotency):
    try:
        return jobs.find_idempotent_job(conn, user_id, *idempotency)
    except jobs.IdempotencyConflict:
        raise _idempotency_conflict() from None


def _idempotency_conflict():
    return ApiError(422, "This Idempotency-Key was used in the last 24 hours for a different "
                         "request; use a new key for a new request.", "IDEMPOTENCY_KEY_REUSED")


# --- images ---------------------------------------------------------------------------------

def input_key(job_id, label):
    """Where a job's person or garment image is stored (every stored input is a JPEG)."""
    return f"inputs/{job_id}/{label}.{STORED_EXTENSION}"


def _store_inputs(store, job_id, images):
    keys = {}
    try:
        for label, image in images.items():
            key = input_key(job_id, label)
            store.put(key, image.data)
            keys[label] = key
    except StorageError as exc:
        _delete_quietly(store, keys.values())
        log.error("could not store inputs of %s: %s", job_id, exc)
        raise ApiError(507, "The images could not be stored; try again later.",
                       errors.STORAGE_FAILED) from None
    return keys


def _delete_quietly(store, keys):
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # best effort: the request is failing already
            log.exception("could not delete %s", key)

"""The public API under /api/v1: submit a try-on job and read its status."""
import uuid

from flask import Blueprint, current_app, g, jsonify, request, url_for

from tryon import services
from tryon.errors import ApiError
from tryon.queue import jobs
from tryon.queue.jobs import JobState
from tryon.store import accounts
from tryon.web import ratelimit
from tryon.web.database import get_db
from tryon.web.errors import error_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")



# --- authentication --------------------------------------------------------------------

def current_api_key():
    """The ApiKey of this request (Authorization: Bearer, or X-API-Key), or ApiError 401.

    Only these headers count: the dashboard's session cookie is never accepted here.
    """
    if "api_key" not in g:
        presented = _presented_key()
        key = _authenticate(presented) if presented else None
        if key is None:
            challenge = 'Bearer realm="tryon"' if presented is None else \
                'Bearer realm="tryon", error="invalid_token"'
            message = ("Missing API key: send Authorization: Bearer <key>."
                       if presented is None else "Invalid or revoked API key.")
            raise ApiError(401, message, headers={"WWW-Authenticate": challenge})
        g.api_key = key
    return g.api_key


def _authenticate(presented):
    """accounts.authenticate_key, its row read through this request's RowMemo."""
    conn = get_db()
    row = _rows().get(("key", accounts.hash_key(presented)),
                      lambda: accounts.valid_key_row(conn, presented))
    return None if row is None else accounts.use_key(conn, row)


def _rows():
    """This thread's rows as of this request (db.RowMemo): one PRAGMA, then the API key's
    and the job's rows come from memory while nothing has been committed."""
    if "rows" not in g:
        g.rows = services.of(current_app).connections.memo()
    return g.rows


def _presented_key():
    """The key from `Authorization: Bearer <key>`, else from `X-API-Key` (a proxy may add an
    Authorization header of its own, e.g. Basic); "" for a header without a usable key,
    None when no key header was sent at all."""
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        return bearer.strip()
    api_key = request.headers.get("X-API-Key")
    if api_key is not None:
        return api_key.strip()
    return "" if "Authorization" in request.headers else None


@bp.before_request
def authenticate_and_limit():
    """Every API endpoint needs a key; each key has its own rate limit per endpoint."""
    key = current_api_key()
    ratelimit.check_api_limit(request.endpoint, key.id)


# --- submit ----------------------------------------------------------------------------

@bp.post("/tryon")
def submit():
    key = current_api_key()
    submission = services.of(current_app).submissions.submit(
        get_db(), request, user_id=key.user_id, api_key_id=key.id, base_url=public_base_url())
    status_url = url_for("api.status", job_id=submission.job_id)
    response = jsonify({"jobId": submission.job_id, "statusUrl": status_url})
    response.status_code = 202
    response.headers["Location"] = public_base_url() + status_url
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


# --- status ----------------------------------------------------------------------------

@bp.get("/tryon/status/<job_id>")
def status(job_id):
    return jsonify(status_body(_own_job_or_error(job_id)))


# --- the caller's jobs and credits ------------------------------------------------------

LIST_STATUSES = {"processing": (JobState.QUEUED, JobState.RUNNING),
                 "completed": (JobState.COMPLETED,), "failed": (JobState.FAILED,)}
MAX_PAGE_SIZE = 100


@bp.get("/tryon/jobs")
def list_jobs():
    key = current_api_key()
    limit = _int_arg("limit", default=20, low=1, high=MAX_PAGE_SIZE)
    status_filter = request.args.get("status")
    if status_filter is not None and status_filter not in LIST_STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(LIST_STATUSES)}.")
    before = _cursor_arg()
    rows = jobs.list_for_user(get_db(), key.user_id, limit=limit + 1, before_seq=before,
                              state=LIST_STATUSES.get(status_filter))
    page = rows[:limit]
    next_cursor = str(page[-1].seq) if len(rows) > limit else None
    return jsonify({
        "jobs": [status_body(job, with_base64=False, with_queue_position=False) for job in page],
        "nextCursor": next_cursor,
    })


def _int_arg(name, default, low, high):
    text = request.args.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}.")
    return int(text)


def _cursor_arg():
    cursor = request.args.get("cursor")
    if not cursor:
        # Absent or empty (`?cursor=`, what a client that fills in nextCursor's "no page
        # yet" sends): the first page. The OpenAPI document allows the empty string.
        return None
    if not (cursor.isascii() and cursor.isdigit()):
        raise ApiError(400, "cursor must be the nextCursor of a previous page.")
    return int(cursor)


@bp.post("/tryon/<job_id>/cancel")
def cancel(job_id):
    job = _own_job_or_error(job_id)
    if not jobs.cancel(get_db(), job.id):
        raise ApiError(409, "The job has finished already; only a processing job can be "
                            "canceled.", "JOB_FINISHED")
    return jsonify(status_body(jobs.get(get_db(), job.id)))


@bp.delete("/tryon/<job_id>")
def delete(job_id):
    job = _own_job_or_error(job_id)
    keys = jobs.delete_finished(get_db(), job.id)
    if keys is None:
        raise ApiError(409, "The job is still processing; cancel it first, then delete it.",
                       "JOB_NOT_FINISHED")
    store = services.of(current_app).store
    for object_key in keys:
        store.delete(object_key)
    return "", 204


@bp.get("/credits")
def credits():
    key = current_api_key()
    return jsonify({"balance": accounts.balance(get_db(), key.user_id),
                    "jobCost": current_app.config["JOB_COST"]})


def _own_job_or_error(job_id):
    key = current_api_key()
    job = _job_or_404(job_id)
    if job.user_id != key.user_id:
        raise ApiError(403, "This job belongs to another account.")
    return job


def _job_or_404(job_id):
    try:
        canonical = str(uuid.UUID(job_id))
    except ValueError:
        canonical = None
    job = _read_job(canonical) if canonical == job_id.lower() else None
    if job is None:
        raise ApiError(404, f"No job with the id {job_id}.")
    return job


def _read_job(job_id):
    return _rows().get(("job", job_id), lambda: jobs.get(get_db(), job_id))


def status_body(job, **options):
    """The documented status document of `job` for this request."""
    renderer = services.of(current_app).status
    return renderer.render(get_db(), job, public_base_url(), **options)


def public_base_url():
    """TRYON_PUBLIC_BASE_URL, else this request's scheme and host. (Not request.host_url: it
    turns the host into an IRI, e.g. punycode into Unicode, and costs a tenth of a status
    request.)"""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    return configured.rstrip("/") if configured else f"{request.scheme}://{request.host}"


# --- errors: everything under /api/ answers JSON ---------------------------------------

@bp.errorhandler(ApiError)
def handle_api_error(exc):
    return error_response(exc.status, exc.message, exc.error_code, exc.headers)

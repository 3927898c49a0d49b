"""The logged-in dashboard: overview, API keys, jobs, the playground and credits.

Every view here needs a dashboard session (see auth.py); a job or key of another account
is answered with 404, as if it did not exist.
"""
import json

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from tryon import services
from tryon.errors import ApiError
from tryon.queue import jobs, webhooks
from tryon.queue.jobs import JobState
from tryon.store import accounts
from tryon.web import api, ratelimit
from tryon.web.database import get_db
from tryon.web.errors import error_response

bp = Blueprint("dashboard", __name__)

JOBS_PER_PAGE = 20
LEDGER_ROWS = 100
NEW_KEY_SESSION = "new_api_key"


@bp.before_request
def require_login():
    if current_user.is_authenticated:
        return None
    if not accounts.has_users(get_db()):
        # A fresh server: there is no account to log in with yet, so the first visitor is
        # sent to create one (it becomes the admin) rather than to a login that cannot work.
        flash("This server has no account yet. Create the first one: it becomes the "
              "server's admin.", "info")
        return redirect(url_for("auth.signup"))
    return current_app.login_manager.unauthorized()


@bp.get("/")
def home():
    conn = get_db()
    return render_template(
        "dashboard/home.html",
        balance=accounts.balance(conn, current_user.id),
        job_cost=current_app.config["JOB_COST"],
        active_keys=sum(1 for key in accounts.list_api_keys(conn, current_user.id)
                        if key["revoked_at"] is None),
        recent_jobs=[job_card(job) for job in jobs.list_for_user(conn, current_user.id, limit=5)],
        base_url=api.public_base_url())


# --- API keys --------------------------------------------------------------------------

@bp.get("/keys")
def keys():
    # A key created just before (create_key redirected here) is shown this once: popped
    # from the session as it is read, so a reload shows it no more and creates nothing.
    new_key = session.pop(NEW_KEY_SESSION, None) or {}
    return _keys_page(new_key=new_key.get("key"), new_key_name=new_key.get("name"))


@bp.post("/keys")
def create_key():
    name = request.form.get("name", "").strip()
    if not name:
        flash("Give the key a name, e.g. the machine or app that will use it.", "error")
        return _keys_page(status=400)
    plaintext, key = accounts.create_api_key(get_db(), current_user.id, name)
    # POST/redirect/GET: a reload of the page that shows the key must not POST again (a
    # second key). The key waits in the session (a signed, HttpOnly cookie that only this
    # site gets) for the one GET that follows, which removes it.
    session[NEW_KEY_SESSION] = {"key": plaintext, "name": key.name}
    return redirect(url_for(".keys"), 303)


def _keys_page(new_key=None, new_key_name=None, status=200):
    conn = get_db()
    html = render_template("dashboard/keys.html",
                           keys=accounts.list_api_keys(conn, current_user.id),
                           webhook_secret=accounts.webhook_secret(conn, current_user.id),
                           new_key=new_key, new_key_name=new_key_name)
    # The page shows secrets (the webhook secret, maybe a new key): no cache may keep it.
    return html, status, {"Cache-Control": "no-store"}


@bp.post("/keys/webhook-secret")
def rotate_webhook_secret():
    accounts.rotate_webhook_secret(get_db(), current_user.id)
    flash("A new webhook signing secret is in use; update your receivers.", "success")
    return redirect(url_for("dashboard.keys"))


@bp.get("/keys/<int:key_id>/revoke")
def confirm_revoke_key(key_id):
    key = accounts.get_api_key(get_db(), key_id, user_id=current_user.id)
    if key is None:
        abort(404)
    return render_template("dashboard/revoke_key.html", key=key)


@bp.post("/keys/<int:key_id>/revoke")
def revoke_key(key_id):
    if accounts.get_api_key(get_db(), key_id, user_id=current_user.id) is None:
        abort(404)
    try:
        prefix = accounts.revoke_api_key_by_id(get_db(), key_id, user_id=current_user.id)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
    else:
        flash(f"The key {prefix}… is revoked: the API refuses it from now on.", "success")
    return redirect(url_for("dashboard.keys"))


# --- jobs ------------------------------------------------------------------------------

@bp.get("/jobs")
def job_list():
    before = _before_arg()
    rows = jobs.list_for_user(get_db(), current_user.id, limit=JOBS_PER_PAGE + 1,
                              before_seq=before)
    page = rows[:JOBS_PER_PAGE]
    older = page[-1].seq if len(rows) > JOBS_PER_PAGE else None
    return render_template("dashboard/jobs.html", jobs=[job_card(job) for job in page],
                           older=older, is_first_page=before is None)


def _before_arg():
    """The page's `before` cursor; anything but ASCII digits shows the first page (type=int
    would read "٣" as 3, and "+3" or "1_0" too)."""
    text = request.args.get("before", "")
    return int(text) if text.isascii() and text.isdigit() else None


@bp.get("/jobs/<job_id>")
def job_detail(job_id):
    card = job_card(_own_job_or_404(job_id), with_queue_position=True)
    # json.dumps, not |tojson: tojson escapes "&" in URLs for <script> use, which reads oddly.
    return render_template("dashboard/job.html", job=card,
                           deliveries=webhooks.deliveries_for_job(get_db(), job_id),
                           document_json=json.dumps(card["document"], indent=2))


@bp.get("/jobs/<job_id>/row")
def job_row(job_id):
    """One row of the jobs table: the list page re-fetches rows of processing jobs."""
    return render_template("dashboard/_job_row.html", job=job_card(_own_job_or_404(job_id)))


@bp.get("/jobs/<job_id>/status")
def job_status(job_id):
    """The job as JSON for the playground and the job page, with dashboard image links."""
    card = job_card(_own_job_or_404(job_id), with_queue_position=True)
    return jsonify({"status": card["status"], "message": card["message"],
                    "error": card["error"], "errorCode": card["error_code"],
                    "images": card["images"], "jobUrl": url_for(".job_detail", job_id=card["id"]),
                    "document": card["document"]})


def _own_job_or_404(job_id):
    job = jobs.get(get_db(), job_id)
    if job is None or job.user_id != current_user.id:
        abort(404)
    return job


def job_card(job, *, with_queue_position=False):
    """What the pages show of a job: its API status document plus signed image links."""
    document = api.status_body(job, with_base64=False, with_queue_position=with_queue_position)
    return {
        "id": job.id,
        "status": document["status"],
        "message": document.get("message"),
        "error": document.get("error"),
        "error_code": document.get("errorCode"),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "images": _image_links(job),
        "document": document,
    }


def _image_links(job):
    """Signed /files/ paths of the job's person, garment and result images that exist."""
    if job.images_deleted_at:
        return {}
    store = services.of(current_app).store
    signer = services.of(current_app).signer
    keys = {"person": job.person_key, "garment": job.garment_key,
            "result": job.result_key if job.state == JobState.COMPLETED else None}
    return {label: signer.signed_path(key) for label, key in keys.items()
            if key and store.exists(key)}


# --- playground ------------------------------------------------------------------------

@bp.get("/playground")
def playground():
    return render_template("dashboard/playground.html",
                           balance=accounts.balance(get_db(), current_user.id),
                           job_cost=current_app.config["JOB_COST"])


@bp.post("/playground")
def playground_submit():
    """Submit like the API does (same checks, same credit); answers JSON to the page's
    script, or redirects to the job page when the form was posted without JavaScript."""
    wants_json = request.accept_mimetypes.best == "application/json"
    try:
        ratelimit.check_playground_limit(current_user.id)
        submission = services.of(current_app).submissions.submit(
            get_db(), request, user_id=current_user.id, base_url=api.public_base_url())
    except ApiError as exc:
        if wants_json:
            return error_response(exc.status, exc.message, exc.error_code, exc.headers)
        flash(exc.message, "error")
        return redirect(url_for(".playground"))
    job_url = url_for(".job_detail", job_id=submission.job_id)
    if wants_json:
        return jsonify({"jobId": submission.job_id, "jobUrl": job_url,
                        "statusUrl": url_for(".job_status", job_id=submission.job_id),
                        "balance": accounts.balance(get_db(), current_user.id)}), 202
    return redirect(job_url)


# --- credits ---------------------------------------------------------------------------

@bp.get("/credits")
def credits():
    conn = get_db()
    return render_template("dashboard/credits.html",
                           balance=accounts.balance(conn, current_user.id),
                           job_cost=current_app.config["JOB_COST"],
                           ledger=accounts.ledger(conn, current_user.id, limit=LEDGER_ROWS),
                           ledger_limit=LEDGER_ROWS)

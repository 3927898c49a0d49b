"""/admin: users (create, disable, grant credits), the queue and the provider's readiness."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tryon.dashboard.auth import admin_required
from tryon.queue import jobs
from tryon.queue.jobs import JobState
from tryon.store import accounts
from tryon.web.database import get_db
from tryon.web.health import provider_status

bp = Blueprint("admin", __name__, url_prefix="/admin")

JOB_STATES = tuple(JobState)


@bp.get("/")
@admin_required
def index():
    conn = get_db()
    counts = jobs.counts_by_state(conn)
    return render_template("admin/index.html", users=accounts.list_users(conn),
                           counts={state: counts.get(state, 0) for state in JOB_STATES},
                           provider=provider_status(current_app),
                           signup_credits=current_app.config["SIGNUP_CREDITS"])


@bp.post("/users")
@admin_required
def create_user():
    try:
        credits = _whole_number(request.form.get("credits", "0"), "Credits")
        accounts.create_user(get_db(), request.form.get("email", ""),
                             request.form.get("password", ""),
                             is_admin=request.form.get("is_admin") == "on", credits=credits)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Created the account {request.form['email'].strip()}.", "success")
    return redirect(url_for(".index"))


@bp.post("/users/<int:user_id>/active")
@admin_required
def set_active(user_id):
    active = request.form.get("active") == "1"
    if user_id == current_user.id and not active:
        flash("You cannot disable your own account.", "error")
        return redirect(url_for(".index"))
    try:
        accounts.set_user_active(get_db(), user_id, active)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
    else:
        email = accounts.get_user(get_db(), user_id)["email"]
        flash(f"{email} is {'enabled' if active else 'disabled'}.", "success")
    return redirect(url_for(".index"))


@bp.post("/users/<int:user_id>/credits")
@admin_required
def grant(user_id):
    user = accounts.get_user(get_db(), user_id)
    try:
        if user is None:
            raise accounts.AccountError(f"No user with the id {user_id}.")
        amount = _whole_number(request.form.get("amount", ""), "Amount")
        accounts.grant_credits(get_db(), user_id, amount,
                               note=f"granted by {current_user.email}")
    except accounts.AccountError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Granted {amount} credit(s) to {user['email']}.", "success")
    return redirect(url_for(".index"))


def _whole_number(text, label):
    text = (text or "").strip() or "0"
    if not (text.isascii() and text.isdigit()):  # "²" is a digit int() refuses
        raise accounts.AccountError(f"{label} must be a whole number.")
    return int(text)

"""Dashboard accounts: sign up, log in, log out, change password (flask-login sessions).

The session cookie is for the dashboard only. The API authenticates every request with an
API key header (api.current_api_key never reads the session), and no request_loader is
installed here, so a Bearer key never logs anyone into the dashboard either.
"""
import functools
import hashlib
import hmac
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.security import generate_password_hash

from tryon import services
from tryon.store import accounts
from tryon.web.database import get_db
from tryon.web.errors import error_response

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Wrong email or password."
TOO_MANY_LOGINS = "Too many failed log-ins for this email. Wait a few minutes and try again."
TOO_MANY_SIGNUPS = "Too many sign-up attempts from your address. Wait a while and try again."


class DashboardUser(UserMixin):
    """The logged-in person, built from a users row on every request."""

    def __init__(self, row):
        self.id = row["id"]
        self.email = row["email"]
        self.is_admin = bool(row["is_admin"])
        self._password_hash = row["password_hash"]

    def get_id(self):
        # The session remembers the user id and a fingerprint of the password hash, so
        # changing the password logs out every other session of the account.
        return f"{self.id}:{password_fingerprint(self._password_hash)}"


def password_fingerprint(password_hash):
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, password_hash.encode(), hashlib.sha256).hexdigest()[:16]


def load_user(session_user_id):
    """flask-login's user_loader: None (logged out) for a disabled user or an old password."""
    user_id, _, fingerprint = session_user_id.partition(":")
    if not (user_id.isascii() and user_id.isdigit()):
        return None
    row = accounts.get_user(get_db(), int(user_id))
    if row is None or not row["is_active"]:
        return None
    if not hmac.compare_digest(password_fingerprint(row["password_hash"]), fingerprint):
        return None
    return DashboardUser(row)


def admin_required(view):
    @functools.wraps(view)
    @login_required
    def wrapped(**kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(**kwargs)
    return wrapped


# --- sign up ---------------------------------------------------------------------------

@bp.route("/signup", methods=("GET", "POST"))
def signup():
    conn = get_db()
    open_signup = _signup_open()
    if request.method == "GET":
        return render_template("auth/signup.html", open_signup=open_signup)
    email, password = request.form.get("email", ""), request.form.get("password", "")
    try:
        if password != request.form.get("confirm", ""):
            raise accounts.AccountError("The two passwords differ.")
        user_id, is_admin = accounts.sign_up(
            conn, email, password, open_signup=current_app.config["ALLOW_SIGNUP"],
            credits=current_app.config["SIGNUP_CREDITS"])
    except accounts.AccountError as exc:
        flash(str(exc), "error")
        return render_template("auth/signup.html", open_signup=open_signup, email=email), 400
    _start_session(accounts.get_user(conn, user_id))
    if is_admin:
        flash("Welcome! As the first account, you are this server's admin.", "success")
    else:
        flash("Welcome! Your account is ready.", "success")
    return redirect(url_for("dashboard.home"))


def _signup_open():
    return current_app.config["ALLOW_SIGNUP"] or not accounts.has_users(get_db())


# --- log in and out --------------------------------------------------------------------

@bp.route("/login", methods=("GET", "POST"))
def login():
    if request.method == "GET":
        return render_template("auth/login.html")
    email = request.form.get("email", "")
    user = accounts.find_user_by_email(get_db(), email)
    if not _password_matches(user, request.form.get("password", "")):
        # 401 is what the rate limit counts; the message never says whether the email exists.
        flash(LOGIN_FAILED, "error")
        return render_template("auth/login.html", email=email), 401
    if not user["is_active"]:
        flash("This account is disabled. Ask an admin to enable it.", "error")
        return render_template("auth/login.html", email=email), 403
    _start_session(user)
    return redirect(_safe_next(request.args.get("next")) or url_for("dashboard.home"))


def _password_matches(user, password):
    if user is None:
        generate_password_hash(password)  # spend the same time as a real check
        return False
    return accounts.check_password(user, password)


def _start_session(user_row):
    # A fresh session at login: nothing from before (a planted session, its CSRF token)
    # carries over into the logged-in one.
    session.clear()
    login_user(DashboardUser(user_row))


def _safe_next(target):
    """Only same-site paths: ?next= must not send people to another site after login."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash("You are logged out.", "success")
    return redirect(url_for("auth.login"))


# --- change password -------------------------------------------------------------------

@bp.route("/account/password", methods=("GET", "POST"))
@login_required
def change_password():
    if request.method == "GET":
        return render_template("auth/password.html")
    conn = get_db()
    user = accounts.get_user(conn, current_user.id)
    new_password = request.form.get("new_password", "")
    try:
        if not accounts.check_password(user, request.form.get("current_password", "")):
            raise accounts.AccountError("The current password is wrong.")
        if new_password != request.form.get("confirm", ""):
            raise accounts.AccountError("The two new passwords differ.")
        accounts.set_password(conn, user["id"], new_password)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
        return render_template("auth/password.html"), 400
    _start_session(accounts.get_user(conn, user["id"]))
    flash("Password changed. Other sessions of this account are logged out.", "success")
    return redirect(url_for("dashboard.home"))


@bp.errorhandler(429)
def too_many_attempts(exc):
    # flask-limiter adds Retry-After and the X-RateLimit headers to this response.
    email = request.form.get("email", "")
    if request.endpoint == "auth.signup":
        flash(TOO_MANY_SIGNUPS, "error")
        return render_template("auth/signup.html", open_signup=_signup_open(), email=email), 429
    flash(TOO_MANY_LOGINS, "error")
    return render_template("auth/login.html", email=email), 429


# --- wiring ----------------------------------------------------------------------------

def init_app(app):
    """Sessions, CSRF and the login and sign-up rate limits; call after ratelimit.init_app."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(app.config["PUBLIC_BASE_URL"] or "").startswith("https://"),
        # The token lives as long as the session: a tab left open for hours still submits.
        WTF_CSRF_TIME_LIMIT=None,
        # Checked by _protect_forms below instead, which leaves out the API.
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    login_manager = LoginManager(app)
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to see this page."
    login_manager.login_message_category = "info"
    csrf = CSRFProtect(app)
    app.before_request(lambda: _protect_forms(csrf))
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_blueprint(bp)
    _limit_failed_logins(app)
    _limit_signups(app)


def _protect_forms(csrf):
    # The API authenticates with a key header that a browser never adds by itself, so a
    # forged cross-site request carries no credentials there; everything else is the
    # dashboard, whose cookie a browser does send, so every form needs the token.
    if not request.path.startswith("/api/"):
        csrf.protect(apply_exemptions=True)  # csrf.exempt() views (none in the app) skip it


def _csrf_failed(exc):
    message = ("The form expired or did not come from this site. Reload the page and try "
               "again.")
    if request.accept_mimetypes.best == "application/json":
        return error_response(400, message, "CSRF_FAILED")
    return render_template("error.html", title="Form expired", message=message), 400


def _limit_failed_logins(app):
    """Failed logins (401) count per client address and email, and per address alone (a
    looser limit, against one address trying many accounts); then 429 for a while."""
    limiter = services.of(app).limiter
    view = app.view_functions["auth.login"]
    for setting, bucket in (("LOGIN_RATE_LIMIT", _login_bucket),
                            ("LOGIN_ADDRESS_RATE_LIMIT", _login_address_bucket)):
        view = limiter.limit(
            lambda setting=setting: current_app.config[setting], key_func=bucket,
            methods=["POST"], deduct_when=lambda response: response.status_code == 401,
            scope=f"auth.login.{setting.lower()}")(view)
    app.view_functions["auth.login"] = view


def _limit_signups(app):
    """Every sign-up POST counts per client address (accounts come with free credits, and
    the answers say whether an email is taken); then 429 for a while."""
    limiter = services.of(app).limiter
    app.view_functions["auth.signup"] = limiter.limit(
        lambda: current_app.config["SIGNUP_RATE_LIMIT"], key_func=_signup_bucket,
        methods=["POST"], scope="auth.signup")(app.view_functions["auth.signup"])


def _signup_bucket():
    return f"signup:{request.remote_addr}"


def _login_bucket():
    email = request.form.get("email", "").strip().lower()
    return f"login:{request.remote_addr}:{email}"


def _login_address_bucket():
    return f"login:{request.remote_addr}"

"""Dashboard accounts: sign-up, login, logout, password change, sessions, CSRF, rate limit,
and the wall between the session cookie (dashboard) and API keys (API)."""
import pytest

from tests.dashboard_client import PASSWORD, csrf_token, email_of, login, post_form
from tests.helpers import auth
from tryon.store import accounts


def sign_up(client, email, password=PASSWORD, confirm=None):
    return client.post("/signup", data={
        "email": email, "password": password, "confirm": confirm or password,
        "csrf_token": csrf_token(client, "/signup")})


# --- sign-up -----------------------------------------------------------------------------

def test_first_account_becomes_admin_even_with_signup_closed(client, conn, app):
    response = sign_up(client, "first@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    user = accounts.find_user_by_email(conn, "first@example.com")
    assert user["is_admin"] == 1
    assert accounts.balance(conn, user["id"]) == app.config["SIGNUP_CREDITS"]
    assert client.get("/").status_code == 200          # logged in by signing up


def test_later_signup_is_refused_while_closed(client, make_user):
    make_user()
    assert "Sign-up is closed" in client.get("/signup").get_data(as_text=True)
    response = sign_up(client, "late@example.com")
    assert response.status_code == 400
    assert "Sign-up is closed" in response.get_data(as_text=True)


def test_open_signup_makes_plain_users_with_signup_credits(make_app, make_user):
    app = make_app(ALLOW_SIGNUP=True, SIGNUP_CREDITS=3)
    client = app.test_client()
    from tryon.store import db
    conn = db.connect(app.config["DATABASE"])
    accounts.create_user(conn, "admin@example.com", PASSWORD, is_admin=True)
    assert sign_up(client, "new@example.com").status_code == 302
    user = accounts.find_user_by_email(conn, "new@example.com")
    assert user["is_admin"] == 0 and accounts.balance(conn, user["id"]) == 3
    conn.close()


@pytest.mark.parametrize("email, password, confirm, message", [
    ("not-an-email", PASSWORD, None, "is not an email address"),
    ("short@example.com", "short", None, "at least 8 characters"),
    ("typo@example.com", PASSWORD, "correct hoarse", "The two passwords differ"),
])
def test_signup_explains_bad_input(client, email, password, confirm, message):
    response = sign_up(client, email, password, confirm)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_signup_refuses_an_existing_email(make_app):
    app = make_app(ALLOW_SIGNUP=True)
    client = app.test_client()
    sign_up(client, "taken@example.com")
    other = app.test_client()
    assert sign_up(other, "taken@example.com").status_code == 400


# --- login and logout --------------------------------------------------------------------

def test_login_and_logout(client, make_user, conn):
    user_id, _ = make_user()
    assert client.get("/keys").headers["Location"].startswith("/login?next=")
    login(client, email_of(conn, user_id))
    assert client.get("/keys").status_code == 200
    response = post_form(client, "/logout")
    assert response.status_code == 302
    assert client.get("/keys").status_code == 302


def test_wrong_password_and_unknown_email_get_the_same_answer(client, make_user, conn):
    user_id, _ = make_user()
    wrong = client.post("/login", data={"email": email_of(conn, user_id), "password": "nope",
                                        "csrf_token": csrf_token(client, "/login")})
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": "nope",
                                          "csrf_token": csrf_token(client, "/login")})
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.get_data(as_text=True)
    assert "Wrong email or password." in unknown.get_data(as_text=True)


def test_login_redirects_only_to_paths_of_this_site(client, make_user, conn):
    user_id, _ = make_user()
    email = email_of(conn, user_id)
    for target, expected in (("/credits", "/credits"), ("https://evil.example/", "/"),
                             ("//evil.example/", "/")):
        response = client.post(f"/login?next={target}", data={
            "email": email, "password": PASSWORD, "csrf_token": csrf_token(client, "/login")})
        assert response.headers["Location"] == expected
        post_form(client, "/logout")


def test_disabled_user_cannot_log_in(client, make_user, conn):
    user_id, _ = make_user()
    accounts.set_user_active(conn, user_id, False)
    response = client.post("/login", data={"email": email_of(conn, user_id), "password": PASSWORD,
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 403 and "disabled" in response.get_data(as_text=True)


def test_disabling_a_user_ends_their_session_at_once(client, make_user, conn):
    user_id, _ = make_user()
    login(client, email_of(conn, user_id))
    accounts.set_user_active(conn, user_id, False)
    assert client.get("/").status_code == 302


# --- sessions --------------------------------------------------------------------------

def test_session_cookie_flags(client, make_user, conn):
    user_id, _ = make_user()
    cookie = login(client, email_of(conn, user_id)).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_behind_https(make_app):
    app = make_app(PUBLIC_BASE_URL="https://tryon.example.com")
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_login_starts_a_new_session(client, make_user, conn):
    """A token (or session) planted before login is worthless after it."""
    user_id, _ = make_user()
    token_before = csrf_token(client, "/login")
    login(client, email_of(conn, user_id))
    assert csrf_token(client) != token_before
    response = client.post("/keys", data={"name": "x", "csrf_token": token_before})
    assert response.status_code == 400


def test_changing_the_password_logs_out_other_sessions(app, make_user, conn):
    user_id, _ = make_user()
    email = email_of(conn, user_id)
    mine, other = app.test_client(), app.test_client()
    login(mine, email)
    login(other, email)
    response = post_form(mine, "/account/password", {
        "current_password": PASSWORD, "new_password": "battery staple",
        "confirm": "battery staple"})
    assert response.status_code == 302
    assert mine.get("/").status_code == 200
    assert other.get("/").status_code == 302
    assert accounts.check_password(accounts.get_user(conn, user_id), "battery staple")


def test_password_change_needs_the_current_password(client, make_user, conn):
    user_id, _ = make_user()
    login(client, email_of(conn, user_id))
    response = post_form(client, "/account/password", {
        "current_password": "wrong one", "new_password": "battery staple",
        "confirm": "battery staple"})
    assert response.status_code == 400 and "current password is wrong" in response.get_data(
        as_text=True)
    assert accounts.check_password(accounts.get_user(conn, user_id), PASSWORD)


# --- CSRF ------------------------------------------------------------------------------

@pytest.mark.parametrize("path, data", [
    ("/login", {"email": "a@example.com", "password": PASSWORD}),
    ("/signup", {"email": "a@example.com", "password": PASSWORD, "confirm": PASSWORD}),
    ("/logout", {}),
])
def test_forms_without_a_csrf_token_are_refused(client, path, data):
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)


def test_a_token_of_another_session_is_refused(app, make_user, conn):
    user_id, _ = make_user()
    victim, attacker = app.test_client(), app.test_client()
    login(victim, email_of(conn, user_id))
    response = victim.post("/keys", data={"name": "x", "csrf_token": csrf_token(attacker)})
    assert response.status_code == 400
    assert accounts.list_api_keys(conn, user_id)[0]["name"] == "test"   # only make_user's key


# --- the rate limit on logins ------------------------------------------------------------

def test_repeated_failed_logins_get_429_whether_or_not_the_email_exists(make_app, make_user):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    from tryon.store import db
    conn = db.connect(app.config["DATABASE"])
    accounts.create_user(conn, "real@example.com", PASSWORD)
    conn.close()
    for email in ("real@example.com", "ghost@example.com"):
        statuses = [client.post("/login", data={
            "email": email, "password": "wrong", "csrf_token": csrf_token(client, "/login")},
        ).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429], email
    blocked = client.post("/login", data={"email": "real@example.com", "password": PASSWORD,
                                          "csrf_token": csrf_token(client, "/login")})
    assert blocked.status_code == 429           # even the right password, for a while
    assert "Too many failed log-ins" in blocked.get_data(as_text=True)
    assert "Retry-After" in blocked.headers


def test_one_address_trying_many_emails_gets_429(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute", LOGIN_ADDRESS_RATE_LIMIT="4 per minute")
    client = app.test_client()
    statuses = [client.post("/login", data={
        "email": f"user{n}@example.com", "password": "wrong",
        "csrf_token": csrf_token(client, "/login")}).status_code for n in range(5)]
    assert statuses == [401, 401, 401, 401, 429]


def test_behind_a_trusted_proxy_limits_count_per_forwarded_client(make_app):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute", TRUSTED_PROXIES=1)
    client = app.test_client()

    def attempt(address):
        return client.post("/login", headers={"X-Forwarded-For": address}, data={
            "email": "someone@example.com", "password": "wrong",
            "csrf_token": csrf_token(client, "/login")}).status_code

    assert [attempt("203.0.113.7") for _ in range(3)] == [401, 401, 429]
    assert attempt("198.51.100.20") == 401   # another client behind the same proxy


def test_forwarded_headers_are_ignored_without_trusted_proxies(make_app):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    statuses = [client.post("/login", headers={"X-Forwarded-For": f"203.0.113.{n}"}, data={
        "email": "someone@example.com", "password": "wrong",
        "csrf_token": csrf_token(client, "/login")}).status_code for n in range(3)]
    assert statuses == [401, 401, 429]        # a forged header does not dodge the limit


def test_successful_logins_do_not_count(make_app):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    from tryon.store import db
    conn = db.connect(app.config["DATABASE"])
    accounts.create_user(conn, "often@example.com", PASSWORD)
    conn.close()
    client = app.test_client()
    for _ in range(4):
        login(client, "often@example.com")
        post_form(client, "/logout")


# --- the API and the dashboard do not share credentials ----------------------------------

def test_the_api_ignores_the_session_cookie(client, make_user, conn, images):
    user_id, _ = make_user()
    login(client, email_of(conn, user_id))
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/credits").status_code == 401
    response = client.post("/api/v1/tryon", data={}, headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 401 and response.get_json()["errorCode"] == "UNAUTHORIZED"


def test_the_api_never_sets_a_session_cookie(client, make_user):
    _, key = make_user()
    response = client.get("/api/v1/credits", headers=auth(key))
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


@pytest.mark.parametrize("path", ["/", "/keys", "/jobs", "/credits", "/playground", "/admin/"])
def test_the_dashboard_ignores_bearer_keys(client, make_user, path):
    _, key = make_user(is_admin=True)
    response = client.get(path, headers=auth(key))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_bearer_key_cannot_post_dashboard_forms(client, make_user, conn):
    user_id, key = make_user()
    response = client.post("/keys", data={"name": "sneaky"}, headers=auth(key))
    assert response.status_code in (302, 400)
    assert len(accounts.list_api_keys(conn, user_id)) == 1

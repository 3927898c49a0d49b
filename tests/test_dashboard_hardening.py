"""Dashboard hardening (issue 15): the playground's rate limit, the sign-up rate limit,
error pages in the app's layout, no cached secrets, and the first visitor of a fresh server.
"""
import io

import pytest

from tests.dashboard_client import PASSWORD, csrf_token, email_of, login, post_form
from tests.fakes import make_image_bytes
from tests.helpers import auth, submit


def text(response):
    return response.get_data(as_text=True)


def logged_in(app, make_user, conn, **kwargs):
    user_id, key = make_user(**kwargs)
    client = app.test_client()
    login(client, email_of(conn, user_id))
    return client, user_id, key


def playground_submit(client, token):
    files = {"person_images": (io.BytesIO(make_image_bytes()), "person.jpg"),
             "garment_images": (io.BytesIO(make_image_bytes(color=(30, 90, 200))), "garment.jpg")}
    return client.post("/playground", data=files,
                       headers={"X-CSRFToken": token, "Accept": "application/json"})


# --- the playground's rate limit ------------------------------------------------------------

@pytest.mark.slow
def test_the_61st_playground_submit_within_a_minute_is_a_json_429(make_app, make_user, conn):
    app = make_app(JOB_COST=0)
    client, _, _ = logged_in(app, make_user, conn)
    token = csrf_token(client)
    for number in range(1, 61):
        response = playground_submit(client, token)
        assert response.status_code == 202, (number, response.get_json())
    response = playground_submit(client, token)
    assert response.status_code == 429
    assert response.get_json()["errorCode"] == "RATE_LIMITED"
    assert "60 per 1 minute" in response.get_json()["error"]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_the_playground_limit_is_per_user_and_apart_from_the_users_keys(make_app, make_user,
                                                                         conn):
    app = make_app(RATE_LIMIT_SUBMIT="2 per minute", JOB_COST=0)
    client, _, key = logged_in(app, make_user, conn)
    other, _, _ = logged_in(app, make_user, conn)
    token, other_token = csrf_token(client), csrf_token(other)
    assert [playground_submit(client, token).status_code for _ in range(3)] == [202, 202, 429]
    # Another person has a budget of their own; the user's API key counts on its own too.
    assert playground_submit(other, other_token).status_code == 202
    assert submit(client, key).status_code == 202
    # Logging in again (a fresh session) does not reset the user's count.
    again = app.test_client()
    login(again, email_of(conn, 1))
    assert playground_submit(again, csrf_token(again)).status_code == 429


def test_a_rate_limited_playground_form_without_javascript_explains(make_app, make_user, conn):
    app = make_app(RATE_LIMIT_SUBMIT="1 per minute", JOB_COST=0)
    client, user_id, _ = logged_in(app, make_user, conn)
    playground_submit(client, csrf_token(client))
    files = {"person_images": (io.BytesIO(make_image_bytes()), "p.jpg"),
             "garment_images": (io.BytesIO(make_image_bytes()), "g.jpg")}
    response = post_form(client, "/playground", files, follow_redirects=True)
    assert "Too many requests" in text(response) and "flash-error" in text(response)


# --- sign-up's rate limit -------------------------------------------------------------------

def sign_up(client, email):
    return client.post("/signup", data={"email": email, "password": PASSWORD,
                                        "confirm": PASSWORD,
                                        "csrf_token": csrf_token(client, "/signup")})


def test_signup_is_limited_per_client_address(make_app, conn):
    app = make_app(ALLOW_SIGNUP=True, SIGNUP_RATE_LIMIT="3 per hour")
    assert [sign_up(app.test_client(), f"u{n}@example.com").status_code
            for n in range(3)] == [302, 302, 302]
    refused = sign_up(app.test_client(), "u3@example.com")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "Too many sign-up attempts" in text(refused)
    assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 3
    # Another address is not held up.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert sign_up(elsewhere, "u4@example.com").status_code == 302


def test_failed_signups_count_too(make_app):
    app = make_app(ALLOW_SIGNUP=True, SIGNUP_RATE_LIMIT="2 per hour")
    client = app.test_client()
    for _ in range(2):
        assert client.post("/signup", data={
            "email": "a@example.com", "password": PASSWORD, "confirm": "different",
            "csrf_token": csrf_token(client, "/signup")}).status_code == 400
    assert sign_up(client, "a@example.com").status_code == 429


# --- error pages ------------------------------------------------------------------------------

def test_a_non_admin_at_admin_gets_a_403_page_in_the_layout(app, make_user, conn):
    client, _, _ = logged_in(app, make_user, conn)
    response = client.get("/admin/")
    assert response.status_code == 403 and response.mimetype == "text/html"
    page = text(response)
    assert 'aria-label="Main"' in page and "Not allowed" in page
    assert 'href="/">Back to the overview' in page


@pytest.mark.parametrize("path", ["/jobs/does-not-exist", "/no-such-page"])
def test_unknown_dashboard_pages_get_a_404_page_in_the_layout(app, make_user, conn, path):
    client, _, _ = logged_in(app, make_user, conn)
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert 'aria-label="Main"' in text(response) and "Page not found" in text(response)


def test_a_405_page_keeps_its_allow_header(app, make_user, conn):
    client, _, _ = logged_in(app, make_user, conn)
    response = client.delete("/keys")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert 'aria-label="Main"' in text(response)


def test_api_and_file_errors_stay_json(app, make_user, conn):
    client, _, key = logged_in(app, make_user, conn)
    for path in ("/api/v1/nope", "/api/v1/tryon/status/nope", "/files/nope"):
        response = client.get(path, headers=auth(key))
        assert response.mimetype == "application/json", path
        assert set(response.get_json()) == {"error", "errorCode"}, path


# --- a fresh server ----------------------------------------------------------------------------

def test_the_first_visitor_of_a_fresh_server_is_sent_to_sign_up(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/signup"
    page = text(client.get("/signup"))
    assert "no account yet" in page and "admin" in page and "Log in to see" not in page


def test_with_accounts_the_visitor_is_asked_to_log_in(client, make_user):
    make_user()
    response = client.get("/")
    assert response.headers["Location"].startswith("/login")

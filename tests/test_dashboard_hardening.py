"""Dashboard hardening (issue 15): the playground's rate limit, the sign-up rate limit,
error pages in the app's layout, no cached secrets, and the first visitor of a fresh server.
"""
import io

import pytest

from tests.conftest import auth, submit
from tests.dashboard_client import PASSWORD, csrf_token, email_of, login, post_form
from tests.fakes import make_image_bytes


def text(response):
    return response.get_data(as_text=True)


def logged_in(app, make_user, conn, **kwargs):
    user_id, key = make_user(**kwargs)
    client = app.test_client()
    login(client, email_of(conn, user_id))
    return client, user_id, key

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

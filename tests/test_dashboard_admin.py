"""/admin: only admins; users (create, disable, grant), queue depth, jobs by status, provider."""
import pytest

from tests.dashboard_client import email_of, login, post_form
from tests.helpers import auth, submit
from tryon.store import accounts


@pytest.fixture
def admin(app, make_user, conn):
    user_id, key = make_user(is_admin=True)
    client = app.test_client()
    login(client, email_of(conn, user_id))
    return client, user_id, key


def text(response):
    return response.get_data(as_text=True)


ADMIN_POSTS = ["/admin/users", "/admin/users/1/active", "/admin/users/1/credits"]


def test_admin_pages_need_an_admin(app, make_user, conn):
    user_id, _ = make_user()
    anonymous, plain = app.test_client(), app.test_client()
    login(plain, email_of(conn, user_id))
    assert anonymous.get("/admin/").headers["Location"].startswith("/login")
    assert plain.get("/admin/").status_code == 403
    for path in ADMIN_POSTS:
        assert post_form(anonymous, path).status_code == 302
        assert post_form(plain, path, {"amount": "5", "active": "0"}).status_code == 403
    assert accounts.balance(conn, 1) == 10 and accounts.get_user(conn, 1)["is_active"] == 1
    assert "Admin</a>" not in text(plain.get("/"))


def test_admin_sees_queue_depth_and_jobs_by_status(admin):
    client, _, key = admin
    for _ in range(2):
        submit(client, key)
    page = text(client.get("/admin/"))
    assert 'data-testid="queue-depth">2<' in page and "Admin</a>" in text(client.get("/"))


def test_admin_creates_a_user(admin, conn):
    client, _, _ = admin
    response = post_form(client, "/admin/users", {
        "email": "new@example.com", "password": "long enough", "credits": "7"})
    assert response.status_code == 302
    user = accounts.find_user_by_email(conn, "new@example.com")
    assert user["is_admin"] == 0 and accounts.balance(conn, user["id"]) == 7
    assert "new@example.com" in text(client.get("/admin/"))
    again = post_form(client, "/admin/users", {"email": "new@example.com",
                                               "password": "long enough"}, follow_redirects=True)
    assert "exists already" in text(again)


def test_admin_disables_and_enables_a_user(admin, make_user, conn, app):
    client, _, _ = admin
    user_id, key = make_user()
    post_form(client, f"/admin/users/{user_id}/active", {"active": "0"})
    assert client.application.test_client().get(
        "/api/v1/credits", headers=auth(key)).status_code == 401
    assert "disabled" in text(client.get("/admin/"))
    post_form(client, f"/admin/users/{user_id}/active", {"active": "1"})
    assert app.test_client().get("/api/v1/credits", headers=auth(key)).status_code == 200


def test_admin_cannot_disable_themselves(admin, conn):
    client, admin_id, _ = admin
    response = post_form(client, f"/admin/users/{admin_id}/active", {"active": "0"},
                         follow_redirects=True)
    assert "cannot disable your own account" in text(response)
    assert accounts.get_user(conn, admin_id)["is_active"] == 1


def test_admin_grants_credits(admin, make_user, conn):
    client, _, _ = admin
    user_id, _ = make_user(credits=0)
    post_form(client, f"/admin/users/{user_id}/credits", {"amount": "25"})
    assert accounts.balance(conn, user_id) == 25
    assert accounts.ledger(conn, user_id)[0]["kind"] == "grant"
    for bad in ("0", "-3", "lots"):
        post_form(client, f"/admin/users/{user_id}/credits", {"amount": bad})
    assert accounts.balance(conn, user_id) == 25
    assert post_form(client, "/admin/users/999/credits", {"amount": "1"}).status_code == 302


def test_admin_sees_whether_the_provider_is_ready(admin, fake_provider):
    client, _, _ = admin
    assert "configuration complete" in text(client.get("/admin/"))
    fake_provider.problems = ["FAKE_TOKEN is not set"]
    page = text(client.get("/admin/"))
    assert "not ready" in page and "FAKE_TOKEN is not set" in page


def test_admin_sees_an_unknown_provider(make_app, make_user, conn):
    app = make_app(PROVIDER="nonesuch")
    user_id, _ = make_user(is_admin=True)
    client = app.test_client()
    login(client, email_of(conn, user_id))
    page = text(client.get("/admin/"))
    assert "nonesuch" in page and "Unknown provider" in page

"""Helpers for dashboard tests with Flask's test client: CSRF tokens, log in, post forms."""
import re

PASSWORD = "correct horse"   # what tests/conftest.py's make_user gives every user
_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client, page="/docs"):
    """The CSRF token of the client's current session, read from a page (as a browser would)."""
    html = client.get(page).get_data(as_text=True)
    return _TOKEN.search(html).group(1)


def login(client, email, password=PASSWORD):
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def post_form(client, path, data=None, **kwargs):
    """POST a dashboard form with this session's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)


def email_of(conn, user_id):
    return conn.execute("SELECT email FROM users WHERE id = ?", (user_id,)).fetchone()["email"]

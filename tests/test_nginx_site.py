"""deploy/nginx-tryon.conf run by a real nginx in front of gunicorn: what nginx refuses
itself answers in the API's JSON shape, and every answer carries HSTS exactly once.

The site is served as written but for the addresses: plain HTTP on free loopback ports
instead of TLS (no certificate here) and the test's gunicorn as upstream. Needs the nginx
binary (Debian: nginx-light); without it the module is skipped, saying so.
"""
import http.client
import json
import re
import shutil
import signal
import socket
import subprocess

import pytest
import requests

from bench.service import free_port
from tests.helpers import wait_for
from tests.live import PROJECT_ROOT, gunicorn
from tryon.store import accounts, db

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed"),
    pytest.mark.slow,   # a real nginx in front of a real gunicorn: `make test-fast` leaves it out
]
HSTS = "max-age=31536000"


def site_on_loopback(port, redirect_port, upstream):
    """The deployed site with TLS and addresses swapped for the test's."""
    site = (PROJECT_ROOT / "deploy" / "nginx-tryon.conf").read_text()
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{redirect_port};")
    site = re.sub(r"\n\s*(http2 on|ssl_certificate(_key)?\s[^;]*);", "", site)
    assert "proxy_pass http://127.0.0.1:5000;" in site
    return site.replace("proxy_pass http://127.0.0.1:5000;", f"proxy_pass {upstream};")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """(nginx address, API key): nginx with the site in front of gunicorn."""
    root = tmp_path_factory.mktemp("nginx")

    def serving(url):
        return requests.get(url + "/livez", timeout=2).status_code == 200

    with gunicorn(root / "instance", serving, TRYON_WORKERS="0", TRYON_TRUSTED_PROXIES="1",
                  TRYON_PUBLIC_BASE_URL="https://tryon.example.com") as (upstream, _):
        conn = db.connect(str(root / "instance" / "tryon.sqlite3"))
        user_id = accounts.create_user(conn, "nginx@example.com", "correct horse", credits=1)
        key = accounts.create_api_key(conn, user_id, "nginx")[0]
        conn.close()
        port = free_port()
        (root / "site.conf").write_text(site_on_loopback(port, free_port(), upstream))
        (root / "nginx.conf").write_text(f"""
            pid {root}/nginx.pid;
            error_log {root}/error.log;
            events {{ worker_connections 64; }}
            http {{
                access_log off;
                client_body_temp_path {root}/body;
                proxy_temp_path {root}/proxy;
                include {root}/site.conf;
            }}""")
        with open(root / "nginx.out", "ab") as log:
            nginx = subprocess.Popen([NGINX, "-p", str(root), "-c", str(root / "nginx.conf"),
                                      "-g", "daemon off; master_process off;"],
                                     stdout=log, stderr=log)
        try:
            wait_for(lambda: _listening(port, nginx, root), timeout=30, interval=0.05)
            yield ("127.0.0.1", port), key
        finally:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait(10)


def _listening(port, nginx, root):
    if nginx.poll() is not None:
        raise AssertionError("nginx exited: " + (root / "nginx.out").read_text())
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def request(address, method, path, headers=None):
    """One request through nginx; http.client raises if the body is shorter than declared."""
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request(method, path, headers={"Host": "tryon.example.com",
                                                  **(headers or {})})
        response = connection.getresponse()
        return response.status, response.msg, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("method, path, headers, status, error_code", [
    pytest.param("GET", "/api/v1/credits", {"Authorization": "Bearer " + "k" * 10_000}, 431,
                 "HEADERS_TOO_LARGE", id="10 KB key"),
    pytest.param("GET", "/api/v1/tryon/status/" + "j" * 9000, {}, 414, "URI_TOO_LONG",
                 id="9000-character jobId"),
    pytest.param("POST", "/api/v1/tryon", {"Content-Length": str(30 * 1024 * 1024),
                                           "Content-Type": "multipart/form-data; boundary=x"},
                 413, "PAYLOAD_TOO_LARGE", id="30 MB body"),
    # Within nginx's limits tryon answers, through nginx.
    pytest.param("GET", "/api/v1/tryon/status/" + "j" * 5000, {"Authorization": "Bearer {key}"},
                 404, "NOT_FOUND", id="5000-character jobId"),
    pytest.param("PUT", "/api/v1/credits", {}, 405, "METHOD_NOT_ALLOWED", id="405"),
])
def test_refusals_are_json_with_hsts(proxied, method, path, headers, status, error_code):
    address, key = proxied
    headers = {name: value.format(key=key) for name, value in headers.items()}
    got_status, response_headers, body = request(address, method, path, headers)
    assert got_status == status, body
    assert response_headers["Content-Type"] == "application/json"
    assert json.loads(body)["errorCode"] == error_code
    assert response_headers.get_all("Strict-Transport-Security") == [HSTS]


def test_tryon_answers_carry_one_hsts_header(proxied):
    # tryon sends HSTS itself (its public address is https) and so does nginx: one survives.
    address, key = proxied
    status, headers, body = request(address, "GET", "/api/v1/credits",
                                    {"Authorization": f"Bearer {key}"})
    assert status == 200, body
    assert headers.get_all("Strict-Transport-Security") == [HSTS]
    assert headers.get("Access-Control-Allow-Origin") is None

"""The API's errors as they leave gunicorn over a real socket: well-formed HTTP (the body
as long as Content-Length says) and JSON, also for requests gunicorn itself refuses for
their size. Flask's test client checks neither, so these tests talk raw HTTP/1.1 to
gunicorn started from gunicorn.conf.py as production runs it."""
import json
import re
import runpy
import socket
from urllib.parse import urlsplit

import pytest
import requests

from tests.live import PROJECT_ROOT, gunicorn
from tryon.store import accounts, db
from tryon.web.openapi import ERROR_DESCRIPTIONS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn with its own HOME and XDG_RUNTIME_DIR, so that any file it makes for the
    user (a control socket) shows up there; returns (url, key, home folder)."""
    root = tmp_path_factory.mktemp("wire")
    (root / "home").mkdir()
    (root / "run").mkdir()

    def serving(url):
        return requests.get(url + "/livez", timeout=2).status_code == 200

    with gunicorn(root / "instance", serving, HOME=str(root / "home"),
                  XDG_RUNTIME_DIR=str(root / "run"), TRYON_WORKERS="0") as (url, _):
        conn = db.connect(str(root / "instance" / "tryon.sqlite3"))
        user_id = accounts.create_user(conn, "wire@example.com", "correct horse", credits=1)
        key = accounts.create_api_key(conn, user_id, "wire")[0]
        conn.close()
        yield url, key, root


def exchange(url, method, target, headers=()):
    """Send one request as raw bytes; return (status, headers, body) as received, the
    headers' names lower-cased."""
    address = urlsplit(url)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {address.netloc}", "Connection: close",
             *headers, "", ""]
    received = bytearray()
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1"))
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:   # closed with our oversized request unread
            assert received, "the connection was reset before any answer"
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, body


def assert_json_error(answer, status, error_code):
    got_status, headers, body = answer
    assert got_status == status, (headers, body)
    assert int(headers["content-length"]) == len(body), (headers, body)
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["errorCode"] == error_code, body
    assert set(json.loads(body)) == {"error", "errorCode"}
    return headers


@pytest.mark.parametrize("method, path", [
    ("PUT", "/api/v1/credits"), ("GET", "/api/v1/tryon"), ("DELETE", "/api/v1/credits"),
    ("POST", "/api/v1/tryon/status/abc"), ("PATCH", "/api/v1/tryon/jobs")])
def test_405_declares_the_length_of_its_json_body(server, method, path):
    url, key, _ = server
    headers = assert_json_error(exchange(url, method, path, [f"Authorization: Bearer {key}"]),
                                405, "METHOD_NOT_ALLOWED")
    assert headers["allow"]
    # What the issue saw: requests raised ChunkedEncodingError on the short body.
    assert requests.request(method, url + path, timeout=10).json()["errorCode"] == \
        "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("method, path, headers, status, error_code", [
    ("GET", "/api/v1/nothing", [], 404, "NOT_FOUND"),
    ("GET", "/api/v1/credits", ["Authorization: Bearer nope"], 401, "UNAUTHORIZED"),
    ("POST", "/api/v1/tryon", ["Authorization: Bearer {key}", "Content-Length: 999999999",
                               "Content-Type: multipart/form-data; boundary=x"],
     413, "PAYLOAD_TOO_LARGE"),
])
def test_other_errors_are_well_formed_json(server, method, path, headers, status, error_code):
    url, key, _ = server
    headers = [header.format(key=key) for header in headers]
    assert_json_error(exchange(url, method, path, headers), status, error_code)


@pytest.mark.parametrize("path, headers, status, error_code", [
    # Within gunicorn's limits the app answers: an overlong key or jobId is just wrong.
    pytest.param("/api/v1/credits", ["Authorization: Bearer " + "k" * 7000], 401,
                 "UNAUTHORIZED", id="7 KB key"),
    pytest.param("/api/v1/tryon/status/" + "j" * 5000, ["Authorization: Bearer {key}"], 404,
                 "NOT_FOUND", id="5000-character jobId"),
    # Beyond them gunicorn refuses the request itself (tryon/web/gunicorn_worker.py).
    pytest.param("/api/v1/credits", ["Authorization: Bearer " + "k" * 10_000], 431,
                 "HEADERS_TOO_LARGE", id="10 KB key"),
    pytest.param("/api/v1/credits", [f"X-Filler-{n}: x" for n in range(101)], 431,
                 "HEADERS_TOO_LARGE", id="101 headers"),
    pytest.param("/api/v1/tryon/status/" + "j" * 9000, ["Authorization: Bearer {key}"], 414,
                 "URI_TOO_LONG", id="9000-character jobId"),
])
def test_overlong_request_parts_get_json_errors(server, path, headers, status, error_code):
    url, key, _ = server
    headers = [header.format(key=key) for header in headers]
    answer = assert_json_error(exchange(url, "GET", path, headers), status, error_code)
    assert answer["x-content-type-options"] == "nosniff"


def test_nginx_passes_what_gunicorn_accepts():
    """nginx refuses a request line or header that does not fit one of its buffers; gunicorn
    its own limits (both without the line's CRLF). Equal, so nothing nginx passes is refused
    by gunicorn, and the app, not a proxy's page, answers every request nginx lets in."""
    site = (PROJECT_ROOT / "deploy" / "nginx-tryon.conf").read_text()
    kilobytes = re.search(r"large_client_header_buffers \d+ (\d+)k;", site).group(1)
    settings = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    buffer_bytes = int(kilobytes) * 1024
    assert settings["limit_request_line"] + 2 == buffer_bytes
    assert settings["limit_request_field_size"] + 2 == buffer_bytes
    # The documents state gunicorn's limits.
    described = ERROR_DESCRIPTIONS[414] + ERROR_DESCRIPTIONS[431]
    for setting in ("limit_request_line", "limit_request_field_size"):
        assert f"longer than {settings[setting]} bytes" in described
    assert f"more than {settings['limit_request_fields']} headers" in described
    # nginx's own refusals (414, and 494: headers too large) answer in the API's JSON shape.
    for code, error_code in (("414", "URI_TOO_LONG"), ("494", "HEADERS_TOO_LARGE")):
        target = re.search(rf"error_page {code} = (\S+);", site).group(1)
        block = site[site.index(f"location = {target} {{"):]
        assert f'"errorCode": "{error_code}"' in block[:block.index("}\n")]


def test_gunicorn_makes_no_control_socket_to_share(server):
    # gunicorn's default control socket is one path per user (~/.gunicorn/gunicorn.ctl or
    # $XDG_RUNTIME_DIR/gunicorn.ctl): instances on one machine took it from each other, and
    # stopping one deleted it for all. gunicorn.conf.py turns it off.
    url, _, root = server
    assert requests.get(url + "/livez", timeout=10).status_code == 200
    assert sorted(path.name for path in (root / "home").rglob("*")) == []
    assert sorted(path.name for path in (root / "run").rglob("*")) == []

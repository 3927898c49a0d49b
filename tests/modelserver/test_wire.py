"""The model server over a real socket (werkzeug's threaded server, as `python -m
tryon.modelserver` runs it) with the fake model: lengths match, errors are JSON (those of the
HTTP server itself too), a body over the limit is refused without being read, and keep-alive
connections work."""
import http.client
import json
import socket
import threading

import pytest

from tests.helpers import wait_for
from tests.modelserver.fakes import build_server, jpeg_data_uri
from tryon.modelserver.app import create_app
from tryon.modelserver.http_server import build_http_server


@pytest.fixture
def address(tmp_path):
    server = build_server(tmp_path, token="t", max_request_bytes=200_000).start()
    assert server.readiness.wait_ready(10)
    http = build_http_server(create_app(server), "127.0.0.1", 0)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield http.server_address[:2]
    http.shutdown()
    http.server_close()
    server.stop(timeout=10)


def exchange(address, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection(*address, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def test_errors_are_json_with_a_matching_length(address):
    for method, path, status in (("GET", "/v1/info", 401), ("GET", "/nowhere", 404),
                                 ("PUT", "/v1/tryon", 405)):
        response, data = exchange(address, method, path)
        assert response.status == status
        assert int(response.headers["Content-Length"]) == len(data)
        assert response.headers["Content-Type"] == "application/json"
        assert json.loads(data)["error"]["code"]


def test_a_declared_body_over_the_limit_is_refused_unread(address):
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(b"POST /v1/tryon HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_job_over_a_keep_alive_connection(address):
    connection = http.client.HTTPConnection(*address, timeout=10)
    payload = json.dumps({"person_image": jpeg_data_uri(), "garment_image": jpeg_data_uri()})
    auth = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    connection.request("POST", "/v1/tryon", body=payload, headers={**auth,
                                                                   "Idempotency-Key": "k"})
    submitted = json.loads(connection.getresponse().read())
    state = {}

    def completed():
        connection.request("GET", f"/v1/tryon/{submitted['id']}", headers=auth)
        state.update(json.loads(connection.getresponse().read()))
        return state["status"] == "completed"

    wait_for(completed)
    url = state["output"]["image_url"]
    assert url.startswith(f"http://127.0.0.1:{address[1]}/v1/results/")
    connection.request("GET", url.split(str(address[1]), 1)[1], headers=auth)
    picture = connection.getresponse()
    assert picture.status == 200 and picture.read().startswith(b"\xff\xd8")
    connection.close()


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n",
], ids=["garbage", "http-9.9", "long-line"])
def test_malformed_requests_get_json_errors_from_the_server_itself(address, request_bytes):
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(request_bytes)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ") and head.split()[1] in (b"400", b"414", b"505"), head
    assert b"Content-Type: application/json" in head
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert length == len(body)
    assert json.loads(body)["error"]["code"]

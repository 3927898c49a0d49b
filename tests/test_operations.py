"""Operations: backup and restore, /metrics, request logs, security headers, /livez."""
import io
import json
import logging
import shutil

from tests.fakes import make_image_bytes
from tests.helpers import auth, submit, wait_for_status
from tryon.store import accounts, db
from tryon.web.security import API_POLICY


def test_backup_while_running_restores_to_a_working_service(make_app, make_user, tmp_path):
    app = make_app(start_worker=True, SECRET_KEY=None)
    client = app.test_client()
    user_id, key = make_user(credits=5)
    job_id = submit(client, key).get_json()["jobId"]
    wait_for_status(client, key, job_id)
    submit(client, key)                       # and one more in flight while we back up
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output

    restored_instance = tmp_path / "restored"
    shutil.copytree(tmp_path / "backup", restored_instance)
    restored = make_app(INSTANCE_PATH=str(restored_instance), SECRET_KEY=None)
    restored_client = restored.test_client()
    body = restored_client.get(f"/api/v1/tryon/status/{job_id}", headers=auth(key)).get_json()
    assert body["status"] == "completed"
    image = restored_client.get(body["imageUrl"].removeprefix("http://localhost"))
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    conn = db.connect(restored.config["DATABASE"])
    assert accounts.balance(conn, user_id) == accounts.ledger_sum(conn, user_id)
    conn.close()


def test_backup_refuses_a_non_empty_destination(app, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "full")])
    assert result.exit_code != 0 and "not empty" in result.output


def test_metrics_in_prometheus_format(worker_app, make_user):
    client = worker_app.test_client()
    _, key = make_user()
    wait_for_status(client, key, submit(client, key).get_json()["jobId"])
    client.get("/api/v1/nothing")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'tryon_jobs{state="completed",provider="fake"} 1' in text
    assert "tryon_queue_depth 0" in text
    assert 'tryon_http_requests_total{route="/api/v1/tryon",method="POST",status="202"} 1' in text
    assert 'route="(unmatched)",method="GET",status="404"' in text
    assert 'tryon_job_duration_seconds_count{provider="fake",outcome="completed"} 1' in text


def test_request_metrics_have_a_bounded_set_of_series(client):
    # Any method name (and any path) a caller sends folds into one label value each: they
    # must not become series of their own, kept for the life of the process.
    for index in range(300):
        client.open(f"/api/v1/nothing-{index}", method=f"PROBE{index}")
        client.open("/api/v1/credits", method=f"X{index}")
    series = [line for line in client.get("/metrics").get_data(as_text=True).splitlines()
              if line.startswith("tryon_http_requests_total{")]
    labels = 'tryon_http_requests_total{route="(unmatched)",method="OTHER",status='
    assert series == [labels + '"404"} 300', labels + '"405"} 300']


def test_metrics_are_private(make_app):
    app = make_app()
    client = app.test_client()
    assert client.get("/metrics", headers={"X-Forwarded-For": "1.2.3.4"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.5"}).status_code == 403
    with_token = make_app(METRICS_TOKEN="s3cret").test_client()
    assert with_token.get("/metrics").status_code == 401
    assert with_token.get("/metrics", headers=auth("s3cret"),
                          environ_base={"REMOTE_ADDR": "10.0.0.5"}).status_code == 200


def test_one_structured_log_line_per_request_without_secrets(client, make_user, caplog):
    _, key = make_user()
    with caplog.at_level(logging.INFO, logger="tryon.access"):
        job_id = submit(client, key).get_json()["jobId"]
        client.get(f"/api/v1/tryon/status/{job_id}", headers=auth(key))
    lines = [json.loads(record.getMessage()) for record in caplog.records
             if record.name == "tryon.access"]
    assert [line["status"] for line in lines] == [202, 200]
    assert all(line["jobId"] == job_id for line in lines)
    assert lines[0]["key"] == key[:11]
    assert key not in caplog.text


def test_api_keys_never_reach_any_log(worker_app, make_user, caplog):
    client = worker_app.test_client()
    _, key = make_user()
    with caplog.at_level(logging.DEBUG):
        job_id = submit(client, key).get_json()["jobId"]
        wait_for_status(client, key, job_id)
        client.get("/api/v1/tryon/status/nope", headers={"X-API-Key": key})
        client.get("/api/v1/credits", headers=auth(key + "x"))
    assert key not in caplog.text


def test_security_headers(app, client):
    api = client.get("/api/v1/credits")
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in api.headers["Content-Security-Policy"]
    for path in ("/livez", "/healthz", "/metrics", "/files/nothing"):
        assert client.get(path).headers["Content-Security-Policy"] == API_POLICY, path
    page = client.get("/nothing-here")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


def test_hsts_when_the_public_address_is_https(make_app):
    secure = make_app(PUBLIC_BASE_URL="https://tryon.example.com").test_client()
    for path in ("/api/v1/credits", "/livez", "/", "/nothing-here"):
        assert secure.get(path).headers["Strict-Transport-Security"] == "max-age=31536000", path
    plain = make_app(PUBLIC_BASE_URL="http://tryon.internal").test_client()
    assert "Strict-Transport-Security" not in plain.get("/api/v1/credits").headers


def test_api_answers_carry_no_cors_headers(client, make_user):
    # CORS stays off: an API key in a browser page is a leaked key, so no page of another
    # origin may read API answers, preflight included.
    _, key = make_user()
    origin = {"Origin": "https://evil.example"}
    answers = [
        client.options("/api/v1/tryon", headers={**origin, "Access-Control-Request-Method":
                                                 "POST", "Access-Control-Request-Headers":
                                                 "authorization"}),
        client.get("/api/v1/credits", headers={**origin, **auth(key)}),
        client.get("/api/v1/credits", headers=origin),
        client.get("/api/v1/openapi.json", headers=origin),
    ]
    for answer in answers:
        assert not [name for name in answer.headers.keys()
                    if name.lower().startswith("access-control-")], answer.headers


def test_too_many_multipart_parts_is_413(make_app, make_user):
    app = make_app()
    _, key = make_user()
    data = {f"field{i}": "x" for i in range(1200)}
    data["person_images"] = (io.BytesIO(make_image_bytes()), "p.jpg")
    response = app.test_client().post("/api/v1/tryon", data=data, headers=auth(key),
                                      content_type="multipart/form-data")
    assert response.status_code == 413
    assert response.get_json()["errorCode"] == "PAYLOAD_TOO_LARGE"


def test_livez_is_a_bare_json_answer(client):
    assert client.get("/livez").get_json() == {"status": "ok"}

"""POST /api/v1/tryon: every documented status code and the checks on uploaded images."""
import io
import threading
import uuid

import pytest
from PIL import Image

from tests.fakes import make_image_bytes, make_noise_jpeg
from tests.helpers import auth, submit
from tryon import services
from tryon.queue import jobs
from tryon.store import accounts


def post(client, key, data, **kwargs):
    return client.post("/api/v1/tryon", data=data, headers=auth(key),
                       content_type="multipart/form-data", **kwargs)


def files(person=None, garment=None):
    return {
        "person_images": (io.BytesIO(person if person is not None else make_image_bytes()),
                          "p.jpg"),
        "garment_images": (io.BytesIO(garment if garment is not None else make_image_bytes()),
                           "g.jpg"),
    }


def assert_error(response, status, code=None, text=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "errorCode"}
    if code:
        assert body["errorCode"] == code
    if text:
        assert text in body["error"]
    return body


def test_accepted_job_has_uuid4_status_url_and_location(client, make_user):
    _, key = make_user()
    response = submit(client, key)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"jobId", "statusUrl"}
    assert uuid.UUID(body["jobId"]).version == 4
    assert body["statusUrl"] == f"/api/v1/tryon/status/{body['jobId']}"
    assert response.headers["Location"] == "http://localhost" + body["statusUrl"]


def test_x_api_key_header_is_accepted(client, make_user):
    _, key = make_user()
    response = client.post("/api/v1/tryon", data=files(), headers={"X-API-Key": key},
                           content_type="multipart/form-data")
    assert response.status_code == 202


def test_x_api_key_is_used_beside_an_authorization_header_without_a_bearer_key(client, make_user):
    # A proxy in front may add Basic auth of its own; an empty Bearer carries no key either.
    _, key = make_user()
    for authorization in ("Basic dXNlcjpwYXNz", "Bearer "):
        response = client.post("/api/v1/tryon", data=files(),
                               headers={"Authorization": authorization, "X-API-Key": key},
                               content_type="multipart/form-data")
        assert response.status_code == 202, authorization


def test_public_base_url_sets_location(make_app, make_user):
    app = make_app(PUBLIC_BASE_URL="https://tryon.example.com/")
    _, key = make_user()
    response = submit(app.test_client(), key)
    assert response.headers["Location"].startswith("https://tryon.example.com/api/v1/tryon/status/")


def test_missing_fields_are_400(client, make_user):
    _, key = make_user()
    data = files()
    del data["garment_images"]
    assert_error(post(client, key, data), 400, "BAD_REQUEST", "garment_images")
    data = files()
    del data["person_images"]
    assert_error(post(client, key, data), 400, "BAD_REQUEST", "person_images")


def test_not_multipart_is_400(client, make_user):
    _, key = make_user()
    response = client.post("/api/v1/tryon", json={"person_images": "x"}, headers=auth(key))
    assert_error(response, 400, "BAD_REQUEST", "multipart/form-data")


def test_empty_file_is_400(client, make_user):
    _, key = make_user()
    assert_error(post(client, key, files(person=b"")), 400, "BAD_REQUEST", "empty")


def test_not_an_image_is_400(client, make_user):
    _, key = make_user()
    assert_error(post(client, key, files(garment=b"GIF89a not really")), 400, "BAD_REQUEST",
                 "JPEG, PNG or WebP")
    assert_error(post(client, key, files(garment=b"%PDF-1.4 hello")), 400)


def test_disallowed_format_is_400(client, make_user):
    _, key = make_user()
    gif = make_image_bytes(fmt="GIF")
    assert_error(post(client, key, files(person=gif)), 400, text="JPEG, PNG or WebP")


def test_truncated_image_is_400(client, make_user):
    _, key = make_user()
    data = make_image_bytes()
    assert_error(post(client, key, files(person=data[: len(data) // 2])), 400, "BAD_REQUEST")


def test_png_and_webp_are_accepted(client, make_user):
    _, key = make_user()
    response = post(client, key, files(person=make_image_bytes(fmt="PNG"),
                                       garment=make_image_bytes(fmt="WEBP")))
    assert response.status_code == 202


def test_two_files_in_one_field_is_400(client, make_user):
    _, key = make_user()
    data = files()
    data["person_images"] = [(io.BytesIO(make_image_bytes()), "a.jpg"),
                             (io.BytesIO(make_image_bytes()), "b.jpg")]
    assert_error(post(client, key, data), 400, text="exactly one")


def test_a_file_and_a_url_in_one_field_is_400_naming_the_field(client, make_user):
    _, key = make_user()
    data = files()
    data["garment_images"] = [(io.BytesIO(make_image_bytes()), "g.jpg"),
                              "https://example.com/garment.jpg"]
    body = assert_error(post(client, key, data), 400, text="garment_images")
    assert "both" in body["error"]


def test_url_string_when_url_inputs_are_off_is_400(make_app, make_user):
    app = make_app(ALLOW_URL_INPUTS=False)
    _, key = make_user()
    data = files()
    data["person_images"] = "https://example.com/person.jpg"
    assert_error(post(app.test_client(), key, data), 400, text="URL inputs are turned off")


def test_text_that_is_not_a_url_is_400(client, make_user):
    _, key = make_user()
    data = files()
    data["garment_images"] = "garment.jpg"
    assert_error(post(client, key, data), 400, text="image file or an http(s) URL")


def test_too_small_image_is_400(client, make_user):
    _, key = make_user()
    assert_error(post(client, key, files(person=make_image_bytes(size=(40, 40)))), 400,
                 text="at least")


def test_decompression_bomb_is_400_without_decoding(make_app, make_user):
    app = make_app(MAX_IMAGE_PIXELS=1_000_000)
    _, key = make_user()
    # 20000 x 20000 pixels of one colour compress to a few hundred kB of PNG.
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, format="PNG")
    response = post(app.test_client(), key, files(person=bomb.getvalue()))
    assert_error(response, 400, text="pixels")


def test_no_key_is_401_with_challenge(client):
    response = client.post("/api/v1/tryon", data=files(), content_type="multipart/form-data")
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_bad_keys_are_401(client, make_user):
    make_user()
    for header in ({"Authorization": "Bearer ta_" + "0" * 32},
                   {"Authorization": "Bearer nonsense"},
                   {"Authorization": "Basic dXNlcjpwYXNz"},
                   {"X-API-Key": "ta_" + "f" * 32}):
        response = client.post("/api/v1/tryon", data=files(), headers=header,
                               content_type="multipart/form-data")
        assert_error(response, 401, "UNAUTHORIZED")
        assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_session_cookie_is_not_accepted(client, make_user):
    _, key = make_user()
    client.set_cookie("session", "anything")
    response = client.post("/api/v1/tryon", data=files(), content_type="multipart/form-data")
    assert response.status_code == 401


def test_no_credits_is_402_and_nothing_is_kept(app, client, make_user, conn):
    user_id, key = make_user(credits=0)
    assert_error(submit(client, key), 402, "INSUFFICIENT_CREDITS", "balance is 0")
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    objects = services.of(app).store.root
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_job_cost_is_configurable(make_app, make_user):
    app = make_app(JOB_COST=3)
    user_id, key = make_user(credits=5)
    client = app.test_client()
    assert submit(client, key).status_code == 202
    assert_error(submit(client, key), 402)
    from tryon.store import db
    connection = db.connect(app.config["DATABASE"])
    assert accounts.balance(connection, user_id) == 2
    connection.close()


def test_upload_limit_is_413_json(make_app, make_user):
    app = make_app(MAX_UPLOAD_MB=0.05)
    _, key = make_user()
    big = make_image_bytes(size=(1500, 1500), quality=100)
    assert len(big) > 60_000
    response = post(app.test_client(), key, files(person=big))
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_submit_rate_limit_is_429_with_headers(make_app, make_user):
    app = make_app(RATE_LIMIT_SUBMIT="2 per minute")
    _, key = make_user()
    _, other_key = make_user()
    client = app.test_client()
    first = submit(client, key)
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert submit(client, key).status_code == 202
    limited = submit(client, key)
    assert_error(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    # Another key has its own budget.
    assert submit(client, other_key).status_code == 202


def test_status_and_submit_limits_are_separate(make_app, make_user):
    app = make_app(RATE_LIMIT_SUBMIT="1 per minute", RATE_LIMIT_STATUS="3 per minute")
    _, key = make_user()
    client = app.test_client()
    job_id = submit(client, key).get_json()["jobId"]
    for _ in range(3):
        assert client.get(f"/api/v1/tryon/status/{job_id}", headers=auth(key)).status_code == 200
    assert_error(client.get(f"/api/v1/tryon/status/{job_id}", headers=auth(key)), 429)


def test_unauthenticated_requests_do_not_spend_a_keys_budget(make_app, make_user):
    app = make_app(RATE_LIMIT_SUBMIT="1 per minute")
    _, key = make_user()
    client = app.test_client()
    for _ in range(3):
        response = client.post("/api/v1/tryon", data=files(), content_type="multipart/form-data",
                               headers={"Authorization": "Bearer ta_" + "1" * 32})
        assert response.status_code == 401
    assert submit(client, key).status_code == 202


def test_stored_inputs_are_reencoded_without_metadata_or_payload(app, client, make_user, conn):
    _, key = make_user()
    exif = Image.Exif()
    exif[0x010F] = "SecretCamera"        # Make
    exif[0x0112] = 6                     # Orientation: rotate 90 degrees clockwise to view
    person = make_image_bytes(size=(400, 300), exif=exif.tobytes()) + b"<script>polyglot</script>"
    response = post(client, key, files(person=person))
    assert response.status_code == 202
    job = jobs.get(conn, response.get_json()["jobId"])
    stored = services.of(app).store.read(job.person_key)
    assert b"polyglot" not in stored and b"SecretCamera" not in stored
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG"
    assert image.size == (300, 400)      # orientation applied
    assert not image.getexif()


def test_unknown_api_path_and_wrong_method_are_json(client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    response = client.get("/api/v1/tryon")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


def test_internal_errors_are_json_500(app, client, make_user, monkeypatch):
    _, key = make_user()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(jobs, "enqueue", broken)
    assert_error(submit(client, key), 500, "INTERNAL_ERROR")


def test_storage_failure_at_submit_is_507_and_charges_nothing(app, client, make_user, conn,
                                                             monkeypatch):
    from tryon.store.objects import StorageError
    user_id, key = make_user(credits=1)

    def disk_full(*args, **kwargs):
        raise StorageError("No space left on device")

    monkeypatch.setattr(services.of(app).store, "put", disk_full)
    assert_error(submit(client, key), 507, "STORAGE_FAILED")
    assert accounts.balance(conn, user_id) == 1
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_submits_write_their_inputs_one_at_a_time(app, make_user, monkeypatch):
    """While one submit is writing its inputs, another that has checked its images does
    not start writing: the store sees one submit's writes, then the other's."""
    _, key = make_user(credits=2)
    store, images = services.of(app).store, services.of(app).images
    events, lock = [], threading.Lock()
    checked, second_writes = threading.Semaphore(0), threading.Event()
    real_put, real_normalize = store.put, images.normalize

    def normalize(*args, **kwargs):
        result = real_normalize(*args, **kwargs)
        checked.release()
        return result

    def put(object_key, data):
        job_id = object_key.split("/")[1]
        with lock:
            first = not events
            events.append(("begin", job_id))
            if any(job != job_id for _, job in events):
                second_writes.set()
        if first:  # hold the first write until the other submit has checked both images
            for _ in range(4):
                assert checked.acquire(timeout=15)
            second_writes.wait(timeout=0.5)   # without the rule it starts writing at once
        real_put(object_key, data)
        with lock:
            events.append(("end", job_id))

    monkeypatch.setattr(images, "normalize", normalize)
    monkeypatch.setattr(store, "put", put)
    responses = []
    threads = [threading.Thread(target=lambda: responses.append(submit(app.test_client(), key)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [r.status_code for r in responses] == [202, 202]
    jobs_in_order = [job for _, job in events]
    first_job = jobs_in_order[0]
    assert jobs_in_order == [first_job] * 4 + [j for j in jobs_in_order[4:] if j != first_job]


def test_lazy_memory_storage_expires_windows():
    from tryon.web.ratelimit import LazyMemoryStorage
    storage = LazyMemoryStorage("tryon-memory://")
    assert storage.incr("k", expiry=0.05) == 1
    assert storage.incr("k", expiry=0.05) == 2
    assert storage.get("k") == 2
    import time
    time.sleep(0.06)            # the window is 50 ms long; this waits it out, not for luck
    assert storage.get("k") == 0
    assert storage.incr("k", expiry=0.05) == 1
    storage.clear("k")
    assert storage.get("k") == 0


def multipart_body(parts, boundary=b"tryon-test-boundary"):
    """Raw multipart/form-data bytes, for headers a client library would not write."""
    body = b""
    for disposition, content in parts:
        body += (b"--" + boundary + b"\r\nContent-Disposition: form-data; " + disposition
                 + b"\r\nContent-Type: image/jpeg\r\n\r\n" + content + b"\r\n")
    return body + b"--" + boundary + b"--\r\n", "multipart/form-data; boundary=" + boundary.decode()


# One body under 64 KiB and one over it (tryon.web.wsgi_input reads those differently).
@pytest.mark.parametrize("noisy", [False, True], ids=["small-body", "large-body"])
def test_a_latin1_filename_does_not_hide_the_file(client, make_user, noisy):
    # "café.jpg" in Latin-1 (0xE9) is not valid UTF-8; werkzeug used to drop the whole form.
    _, key = make_user()
    person = make_noise_jpeg(300) if noisy else make_image_bytes()
    body, content_type = multipart_body([
        (b'name="person_images"; filename="caf\xe9.jpg"', person),
        (b'name="garment_images"; filename="g\xfcrtel.jpg"', make_image_bytes())])
    response = client.post("/api/v1/tryon", data=body, content_type=content_type,
                           headers=auth(key))
    assert response.status_code == 202, response.get_json()

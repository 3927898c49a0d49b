"""Optional submit fields, Idempotency-Key and URL inputs (with the SSRF guard)."""
import io
import socket
import threading
import time

import pytest

from tests.fakes import make_image_bytes, make_noise_jpeg
from tests.helpers import auth, wait_for, wait_for_status
from tests.image_server import LocalHttpServer
from tryon import services
from tryon.media.safe_http import AddressPolicy, SafeHttp, UnsafeUrl
from tryon.queue import jobs
from tryon.store import accounts, db


def post(client, key, data, headers=None):
    return client.post("/api/v1/tryon", data=data, headers={**auth(key), **(headers or {})},
                       content_type="multipart/form-data")


def form(**extra):
    return {"person_images": (io.BytesIO(make_image_bytes()), "p.jpg"),
            "garment_images": (io.BytesIO(make_image_bytes(color=(1, 2, 200))), "g.jpg"), **extra}


def read_db(app, read, *args):
    """read(conn, *args) on a connection of its own to the app's database."""
    conn = db.connect(app.config["DATABASE"])
    try:
        return read(conn, *args)
    finally:
        conn.close()


def stored_options(app, job_id):
    return read_db(app, jobs.get, job_id).options


# --- options ---------------------------------------------------------------------------

def test_options_are_stored_with_the_job(app, client, make_user):
    _, key = make_user()
    response = post(client, key, form(category="Tops", seed="7", fast_mode="true",
                                      garment_description="red cotton tee"))
    assert response.status_code == 202
    assert stored_options(app, response.get_json()["jobId"]) == {
        "category": "tops", "seed": 7, "fast_mode": True, "garment_description": "red cotton tee"}


@pytest.mark.parametrize("field, value, allowed", [
    ("category", "hats", "auto, tops, bottoms, one-pieces"),
    ("seed", "-1", "0 to 4294967295"),
    ("seed", "lucky", "0 to 4294967295"),
    ("seed", "\u0663", "0 to 4294967295"),        # an Arabic-Indic 3, which int() reads as 3
    ("seed", "\uff17", "0 to 4294967295"),        # a fullwidth 7
    ("seed", "+3", "0 to 4294967295"),
    ("seed", "1_000", "0 to 4294967295"),
    ("fast_mode", "maybe", "true or false"),
    ("garment_description", "x" * 1001, "1000"),
])
def test_bad_option_values_are_400_naming_what_is_allowed(client, make_user, field, value, allowed):
    _, key = make_user()
    response = post(client, key, form(**{field: value}))
    assert response.status_code == 400
    assert allowed in response.get_json()["error"]


def test_private_webhook_url_is_refused_at_submit(client, make_user):
    _, key = make_user()
    for url in ("http://169.254.169.254/latest", "http://10.0.0.8/hook", "ftp://example.com/x",
                "http://user:pw@example.com/"):
        response = post(client, key, form(webhook_url=url))
        assert response.status_code == 400, url
        assert "webhook_url" in response.get_json()["error"]


# --- idempotency -----------------------------------------------------------------------

def test_retried_submit_returns_the_same_job_and_charges_once(app, client, make_user):
    user_id, key = make_user(credits=5)
    person, garment = make_image_bytes(), make_image_bytes(color=(9, 9, 9))

    def send():
        return post(client, key, {"person_images": (io.BytesIO(person), "p.jpg"),
                                   "garment_images": (io.BytesIO(garment), "g.jpg")},
                    headers={"Idempotency-Key": "order-42"})

    first, second = send(), send()
    assert first.status_code == second.status_code == 202
    assert first.get_json() == second.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    conn = db.connect(app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 4
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
    conn.close()


def test_same_key_different_request_is_422(client, make_user):
    _, key = make_user()
    assert post(client, key, form(), headers={"Idempotency-Key": "k1"}).status_code == 202
    response = post(client, key, form(seed="3"), headers={"Idempotency-Key": "k1"})
    assert response.status_code == 422
    assert response.get_json()["errorCode"] == "IDEMPOTENCY_KEY_REUSED"


def test_keys_are_per_user(client, make_user):
    _, first_key = make_user()
    _, second_key = make_user()
    one = post(client, first_key, form(), headers={"Idempotency-Key": "same"}).get_json()
    two = post(client, second_key, form(), headers={"Idempotency-Key": "same"}).get_json()
    assert one["jobId"] != two["jobId"]


def test_parallel_retries_create_one_job(make_app, make_user):
    app = make_app()
    user_id, key = make_user(credits=5)
    person = make_image_bytes()
    barrier = threading.Barrier(6)
    bodies = []

    def send():
        client = app.test_client()
        barrier.wait()
        response = post(client, key, {"person_images": (io.BytesIO(person), "p.jpg"),
                                      "garment_images": (io.BytesIO(person), "g.jpg")},
                        headers={"Idempotency-Key": "race"})
        bodies.append((response.status_code, response.get_json()["jobId"]))

    threads = [threading.Thread(target=send) for _ in range(6)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert {code for code, _ in bodies} == {202} and len({job for _, job in bodies}) == 1
    conn = db.connect(app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 4
    conn.close()
    stored = [p for p in services.of(app).store.root.rglob("*") if p.is_file()]
    assert len(stored) == 2        # the losers' images were deleted


def test_bad_idempotency_key_is_400(client, make_user):
    _, key = make_user()
    assert post(client, key, form(), headers={"Idempotency-Key": "x" * 300}).status_code == 400


# --- URL inputs ------------------------------------------------------------------------

@pytest.fixture
def image_server():
    server = LocalHttpServer().start()
    yield server
    server.stop()


@pytest.fixture
def url_app(make_app):
    return make_app(URL_INPUT_ALLOW="127.0.0.1", URL_FETCH_TIMEOUT=5)


def test_url_inputs_are_fetched_by_the_job(make_app, make_user, image_server):
    app = make_app(start_worker=True, URL_INPUT_ALLOW="127.0.0.1", URL_FETCH_TIMEOUT=5)
    image_server.add("/person.png", make_image_bytes(fmt="PNG"))
    image_server.add("/moved", headers={"Location": "/person.png"}, status=302)
    _, key = make_user()
    client = app.test_client()
    response = post(client, key, {"person_images": image_server.url + "/person.png",
                                  "garment_images": image_server.url + "/moved"})
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["jobId"]
    assert wait_for_status(client, key, job_id)["status"] == "completed"
    row = read_db(app, jobs.get, job_id)
    stored = services.of(app).store.read(row.person_key)
    assert stored.startswith(b"\xff\xd8")  # normalised like an upload: the PNG is now a JPEG
    assert row.person_url == image_server.url + "/person.png"


@pytest.mark.parametrize("path, route, reason", [
    ("/missing.jpg", None, "HTTP 404"),
    ("/page", (b"<html>", 200, {"Content-Type": "text/html"}), "not an image"),
    ("/fake.jpg", (b"not really a jpeg", 200, {"Content-Type": "image/jpeg"}), "JPEG, PNG or WebP"),
    ("/loop", (b"", 302, {"Location": "/loop"}), "redirects"),
    ("/hop", (b"", 302, {"Location": "http://169.254.169.254/latest/meta-data"}),
     "169.254.169.254"),
    ("/big.jpg", (make_noise_jpeg(400), 200, None), "larger than"),
    ("/tiny.jpg", (make_image_bytes(size=(20, 20)), 200, None), "at least 64 pixels"),
    ("/drip", "drip", "timed out"),
])
@pytest.mark.parametrize("field", ["person_images", "garment_images"])
def test_an_unusable_url_fails_the_job_with_the_reason_and_a_refund(
        make_app, make_user, image_server, fake_provider, field, path, route, reason):
    app = make_app(start_worker=True, URL_INPUT_ALLOW="127.0.0.1/32", URL_FETCH_TIMEOUT=1,
                   MAX_UPLOAD_MB=0.1)
    if route == "drip":
        image_server.add_drip(path, interval=0.2)
    elif route:
        body, status, headers = route
        image_server.add(path, body, status, headers)
    image_server.add("/ok.jpg", make_image_bytes())
    user_id, key = make_user(credits=3)
    client = app.test_client()
    response = post(client, key, {**{name: image_server.url + "/ok.jpg"
                                     for name in ("person_images", "garment_images")},
                                  field: image_server.url + path})
    assert response.status_code == 202, response.get_json()
    document = wait_for_status(client, key, response.get_json()["jobId"])
    assert document["status"] == "failed"
    assert document["errorCode"] == ("INVALID_PERSON_IMAGE" if field == "person_images"
                                     else "INVALID_GARMENT_IMAGE")
    assert reason in document["error"] and field in document["error"]
    assert document["result"]["step"] == "fetch_inputs"
    assert read_db(app, accounts.balance, user_id) == 3         # refunded, once
    assert fake_provider.calls == 0


@pytest.mark.slow
def test_url_submits_answer_at_once_while_the_downloads_hang(make_app, make_user,
                                                             image_server):
    # Ten callers whose URLs trickle a byte at a time: before, each submit held its request
    # thread for the whole TRYON_URL_FETCH_TIMEOUT (and /livez waited behind them).
    app = make_app(start_worker=True, URL_INPUT_ALLOW="127.0.0.1", URL_FETCH_TIMEOUT=6)
    image_server.add_drip("/drip.jpg", interval=0.5)
    _, key = make_user(credits=20)
    answers = []

    def submit_drip():
        answers.append(post(app.test_client(), key, {
            "person_images": image_server.url + "/drip.jpg",
            "garment_images": image_server.url + "/drip.jpg"}).status_code)

    threads = [threading.Thread(target=submit_drip, daemon=True) for _ in range(10)]
    started = time.monotonic()
    [thread.start() for thread in threads]
    [thread.join(timeout=max(0, started + 3 - time.monotonic())) for thread in threads]
    assert answers == [202] * 10               # all answered within 3 s, well before 6 s
    image_server.wait_for_drips(1)             # the worker is downloading one now
    livez_started = time.monotonic()
    assert app.test_client().get("/livez").status_code == 200
    assert time.monotonic() - livez_started < 1


def test_a_url_submit_asks_no_dns(make_app, make_user, monkeypatch):
    lookups = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host, *args, **kwargs):
        if not kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            lookups.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    app = make_app()
    _, key = make_user()
    response = post(app.test_client(), key, {
        "person_images": "https://images.example.com/person.jpg",
        "garment_images": (io.BytesIO(make_image_bytes()), "g.jpg")})
    assert response.status_code == 202
    assert lookups == []
    assert read_db(app, jobs.get, response.get_json()["jobId"]).person_url == \
        "https://images.example.com/person.jpg"


def test_a_rerun_job_uses_the_input_an_earlier_run_stored(make_app, make_user, image_server):
    # A run that stored the download and then died: the next run must not need the URL.
    app = make_app(URL_INPUT_ALLOW="127.0.0.1")
    _, key = make_user()
    client = app.test_client()
    response = post(client, key, {"person_images": image_server.url + "/gone.jpg",
                                  "garment_images": (io.BytesIO(make_image_bytes()), "g.jpg")})
    job_id = response.get_json()["jobId"]
    services.of(app).store.put(read_db(app, jobs.get, job_id).person_key, make_image_bytes())
    services.of(app).worker.start()
    assert wait_for_status(client, key, job_id)["status"] == "completed"
    assert image_server.hits["/gone.jpg"] == 0


def test_a_job_requeued_after_a_crash_downloads_again_and_is_charged_once(
        make_app, make_user, image_server):
    app = make_app(URL_INPUT_ALLOW="127.0.0.1")
    image_server.add("/person.jpg", make_image_bytes())
    user_id, key = make_user(credits=3)
    client = app.test_client()
    job_id = post(client, key, {"person_images": image_server.url + "/person.jpg",
                                "garment_images": (io.BytesIO(make_image_bytes()), "g.jpg")}
                  ).get_json()["jobId"]
    conn = db.connect(app.config["DATABASE"])
    try:
        jobs.claim(conn, lease_seconds=0.01)   # a run that died before it downloaded anything
        wait_for(lambda: jobs.recover_expired(conn, max_attempts=3)[0] == [job_id], timeout=5)
    finally:
        conn.close()
    services.of(app).worker.start()
    assert wait_for_status(client, key, job_id)["status"] == "completed"
    assert image_server.hits["/person.jpg"] == 1
    assert read_db(app, accounts.balance, user_id) == 2


def test_idempotency_keys_work_with_url_inputs(url_app, make_user, image_server):
    user_id, key = make_user(credits=5)
    client = url_app.test_client()

    def send(garment_url):
        return post(client, key, {"person_images": image_server.url + "/p.jpg",
                                  "garment_images": image_server.url + garment_url},
                    headers={"Idempotency-Key": "url-order"})

    first, second = send("/g.jpg"), send("/g.jpg")
    assert first.status_code == second.status_code == 202
    assert first.get_json()["jobId"] == second.get_json()["jobId"]
    assert send("/other.jpg").status_code == 422
    assert read_db(url_app, accounts.balance, user_id) == 4


def test_loopback_urls_are_refused_without_the_allow_list(client, make_user, image_server):
    image_server.add("/person.jpg", make_image_bytes())
    _, key = make_user()
    response = post(client, key, {"person_images": image_server.url + "/person.jpg",
                                  "garment_images": image_server.url + "/person.jpg"})
    assert response.status_code == 400
    assert "non-public address" in response.get_json()["error"]
    assert image_server.hits == {}


@pytest.mark.parametrize("url", ["http://localhost:8080/a.jpg", "http://2130706433/a.jpg",
                                 "http://[::ffff:10.0.0.1]/a.jpg", "http://169.254.169.254/",
                                 "http://user:pw@example.com/a.jpg", "ftp://example.com/a.jpg"])
def test_urls_refused_without_a_lookup_are_400_at_submit(client, make_user, url):
    _, key = make_user()
    response = post(client, key, {"person_images": url,
                                  "garment_images": (io.BytesIO(make_image_bytes()), "g.jpg")})
    assert response.status_code == 400
    assert "person_images" in response.get_json()["error"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost/", "http://2130706433/", "http://0x7f000001/",
    "http://0177.0.0.1/", "http://127.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/", "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/",
    "http://169.254.169.254/", "http://100.64.0.1/", "http://224.0.0.1/", "http://0.0.0.0/",
    "http://[fe80::1]/", "http://[fc00::1]/", "http://[2002:7f00:1::1]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://255.255.255.255/", "http://198.18.0.1/",
])
def test_guard_refuses_every_spelling_of_a_private_address(url):
    with pytest.raises(UnsafeUrl):
        SafeHttp(AddressPolicy()).check_url(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://x/", "http:///nohost",
                                 "http://a:b@8.8.8.8/", "http://8.8.8.8:99999/"])
def test_guard_refuses_malformed_urls(url):
    with pytest.raises(UnsafeUrl):
        SafeHttp(AddressPolicy()).check_url(url)


def test_guard_allows_public_addresses_and_the_allow_list():
    assert SafeHttp(AddressPolicy()).check_url("http://8.8.8.8/x") == "8.8.8.8"
    assert SafeHttp(AddressPolicy("10.0.0.0/8")).check_url("http://10.1.2.3/") == "10.1.2.3"

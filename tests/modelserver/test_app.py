"""The model server's HTTP contract (docs/providers.md, "The `http` contract") with a fake
model: submit, poll, fetch; idempotency; the bounded queue; readiness; auth; bad requests;
out-of-memory and broken-device failures."""
import io
import threading

import pytest
from PIL import Image

from tests.helpers import wait_for
from tests.image_server import LocalHttpServer
from tests.modelserver.fakes import (
    FakeDeviceLost,
    FakeOutOfMemory,
    build_server,
    jpeg_bytes,
    jpeg_data_uri,
)
from tryon.modelserver.app import create_app
from tryon.modelserver.models.base import GenerationError

TOKEN = "gpu-box-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def make_server(tmp_path):
    servers = []

    def make(ready=True, **settings):
        settings.setdefault("token", TOKEN)
        server = build_server(tmp_path, **settings).start()
        servers.append(server)
        if ready:
            assert server.readiness.wait_ready(10)
        return server

    yield make
    for server in servers:
        server.spec.loaded and server.spec.loaded.release.set()
        server.stop(timeout=10)


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def client(server):
    return create_app(server).test_client()


def body(person=None, garment=None, **options):
    return {"person_image": person or jpeg_data_uri((96, 128)),
            "garment_image": garment or jpeg_data_uri((64, 64), (10, 200, 10)),
            "options": options}


def submit(client, payload=None, key="job-1", headers=AUTH):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/tryon", json=payload or body(), headers={**headers, **extra})


def finished(client, job_id):
    answer = {}

    def done():
        answer.update(client.get(f"/v1/tryon/{job_id}", headers=AUTH).get_json())
        return answer["status"] in ("completed", "failed")

    wait_for(done)
    return answer


def test_a_job_goes_from_queued_to_a_result_of_the_persons_size(client, server):
    answer = submit(client, body(person=jpeg_data_uri((600, 800)), seed=7))
    assert answer.status_code == 202
    assert answer.get_json()["status"] in ("queued", "running")
    done = finished(client, answer.get_json()["id"])
    assert done["status"] == "completed", done
    url = done["output"]["image_url"]
    assert url.startswith("http://localhost/v1/results/")
    picture = client.get(url.removeprefix("http://localhost"), headers=AUTH)
    assert picture.status_code == 200 and picture.mimetype == "image/jpeg"
    image = Image.open(io.BytesIO(picture.data))
    assert image.size == (600, 800)       # generated at 592x784 (multiples of 16), scaled back
    assert max(abs(a - b) for a, b in zip(image.getpixel((10, 10)), (7, 100, 200),
                                          strict=True)) <= 2


def test_the_options_reach_the_model(client, server):
    answer = submit(client, body(category="tops", seed=3, fast_mode=True,
                                 garment_description="red linen shirt"))
    finished(client, answer.get_json()["id"])
    (call,) = server.spec.loaded.calls
    assert (call.category, call.seed, call.fast_mode, call.garment_description) == (
        "tops", 3, True, "red linen shirt")
    assert call.person.size == (96, 128) and call.garment.size == (64, 64)


def test_the_same_key_and_request_return_the_same_job(client, server):
    first = submit(client).get_json()
    again = submit(client)
    assert again.status_code == 200
    assert again.get_json()["id"] == first["id"]
    finished(client, first["id"])
    assert len(server.spec.loaded.calls) == 1


def test_a_resent_job_with_a_new_url_for_the_same_image_is_the_same_job(make_server):
    client = create_app(make_server(url_allow="127.0.0.1")).test_client()
    images = LocalHttpServer().start()
    try:
        for expires in (1, 2):
            images.add(f"/person.jpg?expires={expires}", jpeg_bytes((96, 128)))
        first = submit(client, body(person=f"{images.url}/person.jpg?expires=1")).get_json()
        assert first["status"] != "failed", first
        again = submit(client, body(person=f"{images.url}/person.jpg?expires=2"))
        assert again.status_code == 200 and again.get_json()["id"] == first["id"]
    finally:
        images.stop()


def test_a_reused_key_for_another_request_is_refused(client):
    submit(client)
    answer = submit(client, body(seed=99))
    assert answer.status_code == 409
    assert answer.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_requests_without_a_key_are_separate_jobs(client):
    ids = {submit(client, key=None).get_json()["id"] for _ in range(2)}
    assert len(ids) == 2


def test_a_full_queue_answers_429_with_retry_after(make_server):
    server = make_server(max_queue=2)
    client = create_app(server).test_client()
    model = server.spec.loaded
    model.release.clear()
    running = submit(client, key="a").get_json()["id"]
    assert model.started.acquire(timeout=10)          # "a" is on the GPU, not in the queue
    assert submit(client, key="b").status_code == 202
    assert submit(client, key="c").status_code == 202
    refused = submit(client, key="d")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "QUEUE_FULL"
    assert int(refused.headers["Retry-After"]) >= 1
    assert submit(client, key="b").status_code == 200   # a known key is still answered
    info = client.get("/v1/info", headers=AUTH).get_json()
    assert (info["queueDepth"], info["running"]) == (2, 1)
    model.release.set()
    assert finished(client, running)["status"] == "completed"


def test_not_ready_reports_the_stage_and_refuses_jobs(make_server):
    downloading = threading.Event()
    go_on = threading.Event()

    def slow_fetch(spec, progress):
        progress(0.43)
        downloading.set()
        assert go_on.wait(10)
        return None, {}

    server = make_server(ready=False, fetch=slow_fetch)
    client = create_app(server).test_client()
    assert downloading.wait(10)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert ready.get_json() == {"state": "downloading", "progress": 0.43}
    refused = submit(client)
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert refused.get_json()["error"]["code"] == "NOT_READY"
    assert client.get("/livez").status_code == 200
    go_on.set()
    assert server.readiness.wait_ready(10)
    assert client.get("/readyz").get_json() == {"state": "ready"}
    assert submit(client).status_code == 202


def test_a_model_that_cannot_load_is_fatal_with_its_reason(make_server):
    def missing(spec, progress):
        raise RuntimeError("not in the cache; pass --model-path")

    server = make_server(ready=False, fetch=missing)
    wait_for(lambda: server.fatal.messages)
    assert "--model-path" in server.fatal.messages[0]
    answer = create_app(server).test_client().get("/readyz").get_json()
    assert answer["state"] == "failed" and "--model-path" in answer["error"]


@pytest.mark.parametrize("path", ["/v1/tryon/x", "/v1/info", "/v1/results/x.jpg"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": TOKEN}])
def test_the_api_needs_the_token(client, path, headers):
    answer = client.get(path, headers=headers)
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "UNAUTHORIZED"
    assert submit(client, headers=headers).status_code == 401


def test_probes_need_no_token(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("payload, fragment", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "object"),
    (b'{"garment_image": "data:,"}', "person_image"),
    (b'{"person_image": "x", "garment_image": 5}', "garment_image"),
    (b'{"person_image": "x", "garment_image": "y", "options": []}', "options"),
    (b'{"person_image": "x", "garment_image": "y", "options": {"seed": "4"}}', "seed"),
    (b'{"person_image": "x", "garment_image": "y", "options": {"seed": -1}}', "seed"),
    (b'{"person_image": "x", "garment_image": "y", "options": {"seed": true}}', "seed"),
    (b'{"person_image": "x", "garment_image": "y", "options": {"category": "hats"}}',
     "category"),
    (b'{"person_image": "x", "garment_image": "y", "options": {"fast_mode": 1}}', "fast_mode"),
    (b'{"person_image": "x", "garment_image": "y", "options": {"steps": 80}}', "steps"),
])
def test_malformed_requests_get_400(client, payload, fragment):
    answer = client.post("/v1/tryon", data=payload, headers=AUTH,
                         content_type="application/json")
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "VALIDATION_FAILED" and fragment in error["message"]


def test_an_unusable_image_is_a_failed_job_with_its_code(client):
    for field, code in (("person", "INVALID_PERSON_IMAGE"), ("garment", "INVALID_GARMENT_IMAGE")):
        answer = submit(client, body(**{field: "data:image/jpeg;base64,AAAA"}), key=field)
        assert answer.status_code == 202
        assert answer.get_json()["status"] == "failed"
        assert answer.get_json()["error"]["code"] == code


def test_image_urls_to_private_addresses_are_refused(client):
    answer = submit(client, body(person="http://127.0.0.1:9/person.jpg")).get_json()
    assert answer["error"]["code"] == "INVALID_PERSON_IMAGE"
    assert "fetched" in answer["error"]["message"]


def test_unknown_ids_routes_and_methods_get_json_errors(client):
    assert client.get("/v1/tryon/nope", headers=AUTH).status_code == 404
    assert client.get("/v1/results/nope.jpg", headers=AUTH).status_code == 404
    assert client.get("/v1/results/..%2Fx.jpg", headers=AUTH).status_code == 404
    for answer in (client.get("/nowhere"), client.delete("/v1/tryon", headers=AUTH)):
        assert answer.status_code in (404, 405)
        assert answer.get_json()["error"]["code"] in ("NOT_FOUND", "METHOD_NOT_ALLOWED")


def test_a_body_over_the_limit_gets_413(make_server):
    client = create_app(make_server(max_request_bytes=1000)).test_client()
    answer = client.post("/v1/tryon", data=b"x" * 2000, headers=AUTH,
                         content_type="application/json")
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "REQUEST_ENTITY_TOO_LARGE"


def test_out_of_memory_fails_that_job_and_the_server_goes_on(client, server):
    server.spec.loaded.failures.append(FakeOutOfMemory("CUDA out of memory"))
    failed = finished(client, submit(client, key="big").get_json()["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "GENERATION_FAILED"
    assert "out of GPU memory" in failed["error"]["message"]
    assert server.spec.loaded.memory_released == 1
    assert finished(client, submit(client, key="next").get_json()["id"])["status"] == "completed"
    assert not server.fatal.messages
    info = client.get("/v1/info", headers=AUTH).get_json()
    assert (info["jobsFailed"], info["jobsCompleted"]) == (1, 1)


def test_a_broken_device_fails_the_job_and_stops_the_server(client, server):
    server.spec.loaded.failures.append(FakeDeviceLost("CUDA error: an illegal memory access"))
    failed = finished(client, submit(client).get_json()["id"])
    assert failed["error"]["code"] == "GENERATION_FAILED"
    wait_for(lambda: server.fatal.messages)
    assert "illegal memory access" in server.fatal.messages[0]


def test_a_generation_error_keeps_its_code(client, server):
    server.spec.loaded.failures.append(
        GenerationError("INVALID_PERSON_IMAGE", "no person in the photo", "PersonNotFound"))
    failed = finished(client, submit(client).get_json()["id"])
    assert failed["error"] == {"code": "INVALID_PERSON_IMAGE", "name": "PersonNotFound",
                               "message": "no person in the photo"}


def test_info_describes_the_model_and_the_counters(client):
    info = client.get("/v1/info", headers=AUTH).get_json()
    assert info["model"] == "fake" and info["revision"] == "0123abcd"
    assert (info["device"], info["dtype"], info["offload"]) == ("cpu", "float32", "none")
    assert info["memoryBytes"] == 1234
    for name in ("queueDepth", "running", "jobsCompleted", "jobsFailed"):
        assert info[name] == 0


def test_expired_results_and_jobs_are_forgotten(client, server):
    job_id = submit(client).get_json()["id"]
    url = finished(client, job_id)["output"]["image_url"].removeprefix("http://localhost")
    server.results._clock = lambda: 10 ** 10                 # far past the TTL
    server.book._clock = lambda: 10 ** 10
    assert client.get(url, headers=AUTH).status_code == 404  # expired, even before the sweep
    server.janitor.sweep()
    assert not list(server.results.folder.glob("*.jpg"))
    assert client.get(f"/v1/tryon/{job_id}", headers=AUTH).status_code == 404
    assert submit(client).status_code == 202                 # the key is free again


def test_a_full_queue_refuses_before_fetching_any_image(make_server):
    server = make_server(max_queue=1, url_allow="127.0.0.1")
    client = create_app(server).test_client()
    server.spec.loaded.release.clear()
    submit(client, key="a")
    assert server.spec.loaded.started.acquire(timeout=10)
    submit(client, key="b")
    images = LocalHttpServer().start()
    try:
        images.add("/person.jpg", jpeg_bytes())
        refused = submit(client, body(person=f"{images.url}/person.jpg"), key="c")
        assert refused.status_code == 429
        assert images.hits["/person.jpg"] == 0
    finally:
        images.stop()


def test_a_waiting_status_request_answers_when_the_job_finishes(client, server):
    model = server.spec.loaded
    model.release.clear()
    job_id = submit(client).get_json()["id"]
    assert model.started.acquire(timeout=10)
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        client.get(f"/v1/tryon/{job_id}?wait=20", headers=AUTH).get_json()))
    waiter.start()
    wait_for(lambda: server.book._changed._waiters)
    assert not answers
    model.release.set()
    waiter.join(10)
    assert answers and answers[0]["status"] == "completed"


def test_a_wait_without_a_result_ends_at_its_time(client, server):
    server.spec.loaded.release.clear()
    job_id = submit(client).get_json()["id"]
    assert client.get(f"/v1/tryon/{job_id}?wait=0.05", headers=AUTH).get_json()["status"] in (
        "queued", "running")


@pytest.mark.parametrize("wait", ["-1", "31", "soon", "nan", "inf"])
def test_bad_waits_are_refused(client, wait):
    job_id = submit(client).get_json()["id"]
    answer = client.get(f"/v1/tryon/{job_id}?wait={wait}", headers=AUTH)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "VALIDATION_FAILED"


def test_a_relative_results_folder_is_the_working_directorys(make_server, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = create_app(make_server(results_dir="instance/results")).test_client()
    done = finished(client, submit(client).get_json()["id"])
    picture = client.get(done["output"]["image_url"].removeprefix("http://localhost"),
                         headers=AUTH)
    assert picture.status_code == 200
    assert list((tmp_path / "instance" / "results").glob("*.jpg"))

"""The http provider: our own contract (docs/providers.md) against a fake model
server."""
import pytest

from tests.providers.fake_server import Reply, decode_data_uri
from tests.providers.fakes import FakeModelServer
from tryon.providers.http import HttpProvider


@pytest.fixture
def model_server():
    server = FakeModelServer().start()
    yield server
    server.stop()


@pytest.fixture
def http_app(model_server, provider_app):
    def build(**config):
        return provider_app("http", HttpProvider, HTTP_PROVIDER_URL=model_server.url + "/",
                            HTTP_PROVIDER_TOKEN="gpu-box-token", **config)
    return build


def test_sends_the_contract_request(model_server, http_app, run_job):
    body = run_job(http_app(URL_INPUT_ALLOW="127.0.0.1"), category="tops", seed="9",
                   garment_description="blue tee", webhook_url="http://127.0.0.1:9/hook")
    assert body["status"] == "completed", body
    (submit,) = model_server.calls("POST", "/v1/tryon")
    assert submit.headers["Authorization"] == "Bearer gpu-box-token"
    assert submit.headers["Idempotency-Key"] == body["jobId"]
    assert decode_data_uri(submit.body["person_image"]).size == (512, 640)
    assert decode_data_uri(submit.body["garment_image"]).format == "JPEG"
    # Only generation options travel; the webhook is ours.
    assert submit.body["options"] == {"category": "tops", "seed": 9,
                                      "garment_description": "blue tee"}
    # The result lives on the model server itself, so our token went along.
    (download,) = model_server.calls("GET", "/results/")
    assert download.headers["Authorization"] == "Bearer gpu-box-token"


def test_a_lost_submission_answer_is_resent_safely(model_server, http_app, run_job):
    model_server.script("POST", "/v1/tryon", Reply(503, {"error": {"message": "busy"}},
                                                   headers={"Retry-After": "1"}))
    body = run_job(http_app())
    assert body["status"] == "completed", body
    keys = {c.headers["Idempotency-Key"] for c in model_server.calls("POST", "/v1/tryon")}
    assert len(keys) == 1


def test_a_server_that_answers_at_once_needs_no_polling(model_server, http_app, run_job):
    model_server.script("POST", "/v1/tryon", Reply(200, {
        "id": "sync-1", "status": "completed",
        "output": {"image_url": "data:image/png;base64," + _b64_png()}}))
    body = run_job(http_app())
    assert body["status"] == "completed", body
    assert not model_server.calls("GET")


@pytest.mark.parametrize("code, expected", [
    ("INVALID_PERSON_IMAGE", "INVALID_PERSON_IMAGE"),
    ("INVALID_GARMENT_IMAGE", "INVALID_GARMENT_IMAGE"),
    ("VALIDATION_FAILED", "VALIDATION_FAILED"),
    ("GENERATION_FAILED", "GENERATION_FAILED"),
    ("OUT_OF_VRAM", "SERVICE_SPECIFIC_ERROR"),
    (None, "SERVICE_SPECIFIC_ERROR"),
])
def test_failed_jobs_report_their_code(model_server, http_app, run_job, code, expected):
    model_server.failure = {"code": code, "name": "PoseError", "message": "no pose found"}
    body = run_job(http_app())
    assert body["errorCode"] == expected, body
    assert body["result"]["providerError"] == {"name": "PoseError", "message": "no pose found"}


def _b64_png():
    import base64

    from tests.providers.fake_server import png_bytes
    return base64.b64encode(png_bytes()).decode()


def test_status_checks_ask_the_server_to_hold_the_answer_until_done(model_server, http_app,
                                                                    run_job):
    body = run_job(http_app())
    assert body["status"] == "completed", body
    polls = model_server.calls("GET", "/v1/tryon/")
    assert polls and {poll.query for poll in polls} == {"wait=20"}


def test_the_wait_asked_for_shrinks_near_the_deadline():
    from tests.providers.fake_server import FastTiming
    from tryon.providers.http import _long_poll_seconds

    timing = FastTiming()
    now = timing.monotonic()
    assert _long_poll_seconds(timing, now + 600) == 20
    assert _long_poll_seconds(timing, now + 12.5) == 7.5
    assert _long_poll_seconds(timing, now + 3) == 0
    assert _long_poll_seconds(timing, now + 600, longest=0.3) == 0.3


def test_a_server_that_holds_its_answers_is_asked_again_without_a_pause(model_server):
    from tests.providers.fake_server import FastTiming
    from tests.providers.test_http_servers import request
    from tryon.providers import JobContext

    model_server.honour_wait = True      # it holds each running answer for the wait asked
    model_server.polls_needed = 3
    timing = FastTiming()
    provider = HttpProvider(model_server.url, token="gpu-box-token", timing=timing,
                            long_poll_seconds=0.2)
    result = provider.generate(request(), JobContext())
    assert result.image
    assert [poll.query for poll in model_server.calls("GET", "/v1/tryon/")] == ["wait=0.2"] * 3
    # One pause after the submission's own answer ("queued", not held), none between the
    # held checks.
    assert len(timing.sleeps) == 1

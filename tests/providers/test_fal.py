"""The fal provider: each supported model gets its own input names, the queue's own URLs
are followed, and model and platform errors map to our errorCodes."""
import pytest

from tests.providers.fake_server import Reply, decode_data_uri
from tests.providers.fakes import FakeFal
from tryon.providers.fal import FalProvider


@pytest.fixture
def fal():
    server = FakeFal().start()
    yield server
    server.stop()


@pytest.fixture
def fal_app(fal, provider_app):
    def build(model="fal-ai/leffa/virtual-tryon", **config):
        return provider_app("fal", FalProvider, FAL_BASE_URL=fal.url, FAL_KEY="fal-test-key",
                            FAL_MODEL=model, **config)
    return build


@pytest.mark.parametrize("model, person_field, garment_field, extra", [
    ("fal-ai/kling/v1-5/kolors-virtual-try-on", "human_image_url", "garment_image_url", {}),
    ("fal-ai/leffa/virtual-tryon", "human_image_url", "garment_image_url",
     {"garment_type": "lower_body", "seed": 5}),
    ("fal-ai/cat-vton", "human_image_url", "garment_image_url",
     {"cloth_type": "lower", "seed": 5}),
    ("fal-ai/fashn/tryon/v1.6", "model_image", "garment_image",
     {"category": "bottoms", "seed": 5, "mode": "balanced"}),
])
def test_each_model_gets_its_own_input_names(fal, fal_app, run_job, model, person_field,
                                             garment_field, extra):
    seed = {"seed": "5"} if "seed" in extra else {}   # Kolors takes none: see below
    body = run_job(fal_app(model=model), category="bottoms", **seed)
    assert body["status"] == "completed", body
    (submit,) = fal.calls("POST")
    assert submit.path == "/" + model
    assert submit.headers["Authorization"] == "Key fal-test-key"
    assert decode_data_uri(submit.body[person_field]).size == (512, 640)
    assert decode_data_uri(submit.body[garment_field]).format == "JPEG"
    for name, value in extra.items():
        assert submit.body[name] == value
    assert body["result"]["remote"]["model"] == model


def test_a_seed_for_a_model_without_one_is_a_validation_failure(fal, fal_app, run_job):
    body = run_job(fal_app(model="fal-ai/kling/v1-5/kolors-virtual-try-on"), seed="5")
    assert body["status"] == "failed" and body["errorCode"] == "VALIDATION_FAILED", body
    assert "seed" in body["error"] and body["result"]["step"] == "validate_options"
    assert fal.calls("POST") == []                     # nothing was paid for


def test_follows_the_returned_urls_without_the_sub_path(fal, fal_app, run_job):
    run_job(fal_app(model="fal-ai/kling/v1-5/kolors-virtual-try-on"))
    paths = [call.path for call in fal.calls("GET")]
    assert paths[0] == "/fal-ai/kling/requests/job-1/status"
    assert "/fal-ai/kling/requests/job-1" in paths
    assert all(call.headers["Authorization"] == "Key fal-test-key"
               for call in fal.calls("GET", "/fal-ai/"))


@pytest.mark.parametrize("status, detail, code", [
    (422, [{"loc": ["body", "human_image_url"], "msg": "No person detected",
            "type": "image_load_error"}], "INVALID_PERSON_IMAGE"),
    (422, [{"loc": ["body", "garment_image_url"], "msg": "Could not load the image",
            "type": "file_download_error"}], "INVALID_GARMENT_IMAGE"),
    (422, [{"loc": ["body", "human_image_url"], "msg": "The content was flagged",
            "type": "content_policy_violation"}], "SERVICE_SPECIFIC_ERROR"),
    (400, [{"loc": ["body"], "msg": "Unsupported combination", "type": "bad_input"}],
     "SERVICE_SPECIFIC_ERROR"),
])
def test_model_errors_map_by_type_and_field(fal, fal_app, run_job, status, detail, code):
    fal.failure = Reply(status, {"detail": detail})
    body = run_job(fal_app())
    assert body["errorCode"] == code, body
    assert body["result"]["providerError"] == {"name": detail[0]["type"],
                                               "message": detail[0]["msg"]}


def test_platform_errors_keep_their_error_type(fal, fal_app, run_job):
    fal.failure = Reply(504, {"detail": "Request timed out", "error_type": "request_timeout"},
                        headers={"X-Fal-Error-Type": "request_timeout"})
    body = run_job(fal_app())
    assert body["errorCode"] == "GENERATION_FAILED", body
    assert body["result"]["providerError"] == {"name": "request_timeout",
                                               "message": "Request timed out"}


def test_an_unsupported_model_is_a_configuration_problem(fal, fal_app, run_job):
    app = fal_app(model="fal-ai/flux/dev")
    problems = app.test_client().get("/healthz").get_json()["provider"]["problems"]
    assert problems == [p for p in problems if "TRYON_FAL_MODEL" in p] and problems
    body = run_job(app)
    assert body["errorCode"] == "CONSUMER_CONFIG_ERROR"
    assert not fal.requests

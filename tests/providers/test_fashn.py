"""The fashn provider: what we send FASHN, and how its errors map to our errorCodes."""
import pytest

from tests.fakes import make_image_bytes
from tests.providers.fake_server import Reply, decode_data_uri
from tests.providers.fakes import FakeFashn
from tryon.providers.fashn import FashnProvider


@pytest.fixture
def fashn():
    server = FakeFashn().start()
    yield server
    server.stop()


@pytest.fixture
def fashn_app(fashn, provider_app):
    def build(**config):
        return provider_app("fashn", FashnProvider, FASHN_BASE_URL=fashn.url,
                            FASHN_API_KEY="fashn-test-key", **config)
    return build


def test_sends_the_documented_run_request(fashn, fashn_app, run_job):
    body = run_job(fashn_app())
    assert body["status"] == "completed", body
    (run,) = fashn.calls("POST", "/v1/run")
    assert run.headers["Authorization"] == "Bearer fashn-test-key"
    assert run.body["model_name"] == "tryon-v1.6"
    inputs = run.body["inputs"]
    assert decode_data_uri(inputs["model_image"]).size == (512, 640)
    assert decode_data_uri(inputs["garment_image"]).format == "JPEG"
    assert inputs["category"] == "auto" and inputs["mode"] == "balanced"
    assert "seed" not in inputs
    assert [c.path for c in fashn.calls("GET", "/v1/status/")] == ["/v1/status/job-1"] * 2
    assert body["result"]["remote"] == {"provider": "fashn", "model": "tryon-v1.6",
                                        "id": "job-1"}


def test_maps_our_options(fashn, fashn_app, run_job):
    run_job(fashn_app(FASHN_MODEL="tryon-v1.5"), category="bottoms", seed="7",
            fast_mode="true")
    (run,) = fashn.calls("POST", "/v1/run")
    assert run.body["model_name"] == "tryon-v1.5"
    assert run.body["inputs"]["category"] == "bottoms"
    assert run.body["inputs"]["seed"] == 7
    assert run.body["inputs"]["mode"] == "performance"


def test_tall_photos_are_shrunk_to_2000_pixels_high(fashn, fashn_app, run_job):
    body = run_job(fashn_app(), person=make_image_bytes(size=(1000, 2600)))
    assert body["status"] == "completed", body
    sent = decode_data_uri(fashn.calls("POST", "/v1/run")[0].body["inputs"]["model_image"])
    assert sent.height == 2000 and sent.width == 769


def test_signed_input_urls_when_the_service_is_public(fashn, fashn_app, run_job):
    app = fashn_app(PUBLIC_BASE_URL="https://tryon.example.com")
    run_job(app)
    inputs = fashn.calls("POST", "/v1/run")[0].body["inputs"]
    prefix = "https://tryon.example.com/files/"
    assert inputs["model_image"].startswith(prefix)
    # The URL is one our /files/ route serves (FASHN would fetch it).
    served = app.test_client().get(inputs["model_image"][len("https://tryon.example.com"):])
    assert served.status_code == 200 and served.data[:2] == b"\xff\xd8"


def test_a_private_public_base_url_still_sends_the_bytes(fashn, fashn_app, run_job):
    run_job(fashn_app(PUBLIC_BASE_URL="http://192.168.1.20:8000"))
    inputs = fashn.calls("POST", "/v1/run")[0].body["inputs"]
    assert inputs["model_image"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize("name, message, code", [
    ("ImageLoadError", "Error loading model image: Invalid URL format", "INVALID_PERSON_IMAGE"),
    ("ImageLoadError", "Error loading garment image: cannot identify image",
     "INVALID_GARMENT_IMAGE"),
    ("ImageLoadError", "Unable to load image", "SERVICE_SPECIFIC_ERROR"),
    ("PoseError", "Unable to detect body pose in model image", "INVALID_PERSON_IMAGE"),
    ("PoseError", "Unable to detect pose in garment image", "INVALID_GARMENT_IMAGE"),
    ("ContentModerationError", "Prohibited content detected", "SERVICE_SPECIFIC_ERROR"),
    ("InputValidationError", "seed out of range", "SERVICE_SPECIFIC_ERROR"),
    ("PipelineError", "Unexpected pipeline failure", "GENERATION_FAILED"),
    ("ThirdPartyError", "A third-party service failed", "GENERATION_FAILED"),
    ("InternalServerError", "Something went wrong", "GENERATION_FAILED"),
    ("SomeFutureError", "new", "SERVICE_SPECIFIC_ERROR"),
])
def test_a_failed_prediction_maps_its_error_name(fashn, fashn_app, run_job, name, message,
                                                 code):
    fashn.failure = {"name": name, "message": message}
    body = run_job(fashn_app())
    assert body["errorCode"] == code, body
    assert body["result"]["providerError"] == {"name": name, "message": message}
    assert body["result"]["step"] == "generate"


def test_out_of_credits_is_a_config_error_without_retries(fashn, fashn_app, run_job):
    fashn.script("POST", "/v1/run", Reply(429, {"error": "OutOfCredits",
                                                "message": "No API credits left"}), times=9)
    body = run_job(fashn_app())
    assert body["errorCode"] == "CONSUMER_CONFIG_ERROR", body
    assert body["result"]["providerError"]["name"] == "OutOfCredits"
    assert len(fashn.calls("POST", "/v1/run")) == 1


def test_a_bad_request_keeps_fashns_message(fashn, fashn_app, run_job):
    fashn.script("POST", "/v1/run", Reply(400, {"error": "BadRequest",
                                                "message": "category must be one of ..."}))
    body = run_job(fashn_app())
    assert body["errorCode"] == "SERVICE_SPECIFIC_ERROR", body
    assert body["result"]["providerError"] == {"name": "BadRequest",
                                               "message": "category must be one of ..."}


def test_canceled_or_timed_out_predictions_fail(fashn, fashn_app, run_job):
    fashn.script("GET", "/v1/status/", Reply(body={"id": "job-1", "status": "time_out",
                                                   "error": None}))
    body = run_job(fashn_app())
    assert body["errorCode"] == "GENERATION_FAILED", body
    assert body["result"]["providerError"]["name"] == "time_out"

"""The replicate provider: IDM-VTON inputs on the predictions API, data URLs within
Replicate's limit, and how failed predictions map to our errorCodes."""
import io

import pytest
from PIL import Image

from tests.providers.fake_server import decode_data_uri
from tests.providers.fakes import FakeReplicate
from tryon.providers.replicate import DEFAULT_VERSION, ReplicateProvider

DATA_URL_LIMIT = 256 * 1024


@pytest.fixture
def replicate():
    server = FakeReplicate().start()
    yield server
    server.stop()


@pytest.fixture
def replicate_app(replicate, provider_app):
    def build(**config):
        return provider_app("replicate", ReplicateProvider, REPLICATE_BASE_URL=replicate.url,
                            REPLICATE_API_TOKEN="r8_test_token", **config)
    return build


def noisy_photo(size):
    """A photo-like JPEG that compresses badly (several MB), unlike flat test images."""
    out = io.BytesIO()
    Image.effect_noise(size, 80).convert("RGB").save(out, format="JPEG", quality=95)
    return out.getvalue()


def test_sends_idm_vton_inputs_by_version(replicate, replicate_app, run_job):
    body = run_job(replicate_app())
    assert body["status"] == "completed", body
    (create,) = replicate.calls("POST", "/v1/predictions")
    assert create.headers["Authorization"] == "Bearer r8_test_token"
    assert create.body["version"] == DEFAULT_VERSION
    inputs = create.body["input"]
    assert decode_data_uri(inputs["human_img"]).size == (512, 640)
    assert decode_data_uri(inputs["garm_img"]).format == "JPEG"
    assert inputs["category"] == "upper_body"
    assert inputs["garment_des"] == "a top"
    assert inputs["steps"] == 30 and "seed" not in inputs
    assert inputs["crop"] is True   # 512x640 is 4:5, not IDM-VTON's 3:4
    # Polled at the prediction's own urls.get.
    assert replicate.calls("GET", "/v1/predictions/job-1")


def test_maps_our_options(replicate, replicate_app, run_job):
    run_job(replicate_app(REPLICATE_VERSION="cuuupid/idm-vton:" + "ab" * 32),
            category="one-pieces", seed="123", fast_mode="yes",
            garment_description="red summer dress", person=None)
    create = replicate.calls("POST", "/v1/predictions")[0].body
    assert create["version"] == "ab" * 32
    assert create["input"]["category"] == "dresses"
    assert create["input"]["garment_des"] == "red summer dress"
    assert create["input"]["seed"] == 123
    assert create["input"]["steps"] == 20


def test_data_urls_stay_within_replicates_limit(replicate, replicate_app, run_job):
    body = run_job(replicate_app(), person=noisy_photo((900, 1200)),
                   garment=noisy_photo((800, 800)))
    assert body["status"] == "completed", body
    inputs = replicate.calls("POST", "/v1/predictions")[0].body["input"]
    for name in ("human_img", "garm_img"):
        assert len(inputs[name]) <= DATA_URL_LIMIT, (name, len(inputs[name]))
        decode_data_uri(inputs[name]).load()
    assert decode_data_uri(inputs["human_img"]).size[0] / \
        decode_data_uri(inputs["human_img"]).size[1] == pytest.approx(0.75, abs=0.01)


def test_signed_urls_replace_data_urls_when_public(replicate, replicate_app, run_job):
    run_job(replicate_app(PUBLIC_BASE_URL="https://tryon.example.com/"),
            person=noisy_photo((600, 800)))
    inputs = replicate.calls("POST", "/v1/predictions")[0].body["input"]
    assert inputs["human_img"].startswith("https://tryon.example.com/files/")
    assert "signature=" in inputs["human_img"]


@pytest.mark.parametrize("error, code", [
    ("NSFW content detected in the output", "SERVICE_SPECIFIC_ERROR"),
    ("No pose detected in human_img", "INVALID_PERSON_IMAGE"),
    ("cannot identify image file for garm_img", "INVALID_GARMENT_IMAGE"),
    ("CUDA out of memory", "GENERATION_FAILED"),
])
def test_a_failed_prediction_keeps_replicates_error(replicate, replicate_app, run_job, error,
                                                    code):
    replicate.failure = error
    body = run_job(replicate_app())
    assert body["errorCode"] == code, body
    assert body["result"]["providerError"] == {"name": "failed", "message": error}


def test_a_canceled_prediction_fails(replicate, replicate_app, run_job):
    from tests.providers.fake_server import Reply
    replicate.script("GET", "/v1/predictions/", Reply(body={"id": "job-1", "status": "canceled",
                                                            "error": None}))
    body = run_job(replicate_app())
    assert body["errorCode"] == "GENERATION_FAILED", body
    assert body["result"]["providerError"]["name"] == "canceled"

"""Every remote provider against its fake server: the failures they all share (credentials,
rate limits, server errors, hangs, malformed answers, expired results) end the way the
issue asks, with the retries it asks for."""
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.providers.fake_server import Reply
from tests.providers.fakes import FakeFal, FakeFashn, FakeModelServer, FakeReplicate
from tryon.providers.fal import FalProvider
from tryon.providers.fashn import FashnProvider
from tryon.providers.http import HttpProvider
from tryon.providers.remote import RetryPolicy
from tryon.providers.replicate import ReplicateProvider

ALWAYS = 1000  # "times" for a scripted answer that never stops


@dataclass(frozen=True)
class Case:
    name: str
    provider_class: type
    fake_class: type
    settings: Callable      # fake server URL, credential -> app config
    credential: str         # the TRYON_ setting that holds the credential
    submit: tuple           # (method, path prefix) of the submission
    poll: tuple             # ... of a status check
    result: tuple           # ... of the result download

    def __str__(self):
        return self.name


CASES = [
    Case("fashn", FashnProvider, FakeFashn,
         lambda url, key: {"FASHN_BASE_URL": url, "FASHN_API_KEY": key},
         "FASHN_API_KEY", ("POST", "/v1/run"), ("GET", "/v1/status/"), ("GET", "/cdn/")),
    Case("replicate", ReplicateProvider, FakeReplicate,
         lambda url, key: {"REPLICATE_BASE_URL": url, "REPLICATE_API_TOKEN": key},
         "REPLICATE_API_TOKEN", ("POST", "/v1/predictions"), ("GET", "/v1/predictions/"),
         ("GET", "/delivery/")),
    Case("fal", FalProvider, FakeFal,
         lambda url, key: {"FAL_BASE_URL": url, "FAL_KEY": key,
                           "FAL_MODEL": "fal-ai/leffa/virtual-tryon"},
         "FAL_KEY", ("POST", "/fal-ai/leffa/virtual-tryon"), ("GET", "/fal-ai/leffa/requests/"),
         ("GET", "/media/")),
    Case("http", HttpProvider, FakeModelServer,
         lambda url, key: {"HTTP_PROVIDER_URL": url, "HTTP_PROVIDER_TOKEN": key},
         "HTTP_PROVIDER_TOKEN", ("POST", "/v1/tryon"), ("GET", "/v1/tryon/"),
         ("GET", "/results/")),
]
GOOD_KEYS = {"fashn": "fashn-test-key", "replicate": "r8_test_token", "fal": "fal-test-key",
             "http": "gpu-box-token"}


@pytest.fixture(params=CASES, ids=str)
def case(request):
    return request.param


@pytest.fixture
def server(case):
    fake = case.fake_class().start()
    yield fake
    fake.stop()


@pytest.fixture
def build(case, server, provider_app):
    def build_app(key=None, **config):
        settings = case.settings(server.url, key or GOOD_KEYS[case.name])
        return provider_app(case.name, case.provider_class, **settings, **config)
    return build_app


def test_a_job_completes_with_one_remote_submission(case, server, build, run_job):
    body = run_job(build())
    assert body["status"] == "completed", body
    assert body["result"]["provider"] == case.name
    assert body["result"]["remote"]["id"] == "job-1"
    assert len(server.calls(*case.submit)) == 1
    assert len(server.calls(*case.result)) == 1


def test_rejected_credentials_are_a_config_error_and_not_retried(case, server, build, run_job):
    body = run_job(build(key="wrong-key"))
    assert body["errorCode"] == "CONSUMER_CONFIG_ERROR", body
    assert body["result"]["step"] == "submit"
    assert "credentials" in body["error"]
    assert len(server.calls(*case.submit)) == 1


def test_missing_credentials_name_the_setting(case, provider_app, run_job):
    if case.name == "http":
        settings = {}   # the token is optional; the URL is what the http provider needs
        missing = "TRYON_HTTP_PROVIDER_URL"
    else:
        settings = case.settings("http://127.0.0.1:9", "")
        missing = "TRYON_" + case.credential
    app = provider_app(case.name, case.provider_class, **settings)
    health = app.test_client().get("/healthz").get_json()["provider"]
    assert health["ready"] is False and any(missing in p for p in health["problems"])
    body = run_job(app)
    assert body["errorCode"] == "CONSUMER_CONFIG_ERROR"
    assert body["result"]["step"] == "select_provider"
    assert missing in body["error"]


def test_429_is_retried_after_the_wait_retry_after_asks_for(case, server, build, run_job,
                                                            timing):
    server.script(*case.submit, Reply(429, {"error": "RateLimitExceeded", "detail": "slow down"},
                                      headers={"Retry-After": "7"}))
    body = run_job(build())
    assert body["status"] == "completed", body
    assert len(server.calls(*case.submit)) == 2
    assert max(timing.sleeps) >= 7


def test_retry_after_beyond_the_deadline_fails_at_once(case, server, build, run_job):
    server.script(*case.submit, Reply(429, {"detail": "throttled"},
                                      headers={"Retry-After": "3600"}), times=ALWAYS)
    body = run_job(build(PROVIDER_TIMEOUT=60))
    assert body["errorCode"] == "GENERATION_FAILED", body
    assert "deadline" in body["error"]
    assert len(server.calls(*case.submit)) == 1


def test_500s_while_polling_are_retried(case, server, build, run_job):
    server.script(*case.poll, Reply(500, {"detail": "boom"}), times=2)
    body = run_job(build())
    assert body["status"] == "completed", body


def test_a_server_that_keeps_failing_ends_the_job(case, server, build, run_job):
    server.script(*case.poll, Reply(500, {"detail": "boom"}), times=ALWAYS)
    body = run_job(build())
    assert body["errorCode"] == "GENERATION_FAILED", body
    assert body["result"]["step"] == "poll"
    assert len(server.calls(*case.poll)) == 1 + RetryPolicy().max_retries


def test_a_hang_past_the_deadline_fails_the_job(case, server, build, run_job):
    server.script(*case.poll, Reply(hang=True), times=ALWAYS)
    started = time.monotonic()
    body = run_job(build(PROVIDER_TIMEOUT=1))
    assert body["errorCode"] == "GENERATION_FAILED", body
    assert "TRYON_PROVIDER_TIMEOUT" in body["error"]
    assert time.monotonic() - started < 5


def test_a_job_that_never_finishes_ends_at_the_deadline(case, server, build, run_job, timing):
    server.hold.set()
    body = run_job(build(PROVIDER_TIMEOUT=30))
    assert body["errorCode"] == "GENERATION_FAILED", body
    assert body["result"]["step"] == "poll"
    # Polling backed off: later waits are longer, none above the ceiling.
    assert timing.sleeps[0] < timing.sleeps[3] <= RetryPolicy().poll_max_delay * 1.2


def test_malformed_json_fails_the_job(case, server, build, run_job):
    server.script(*case.poll, Reply(200, "{'status': not json"))
    body = run_job(build())
    assert body["errorCode"] == "GENERATION_FAILED", body
    assert "malformed JSON" in body["error"]


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_result_url_is_result_unavailable(case, server, build, run_job, status):
    server.script(*case.result, Reply(status, "<Error>AccessDenied / expired</Error>"),
                  times=ALWAYS)
    body = run_job(build())
    assert body["errorCode"] == "RESULT_UNAVAILABLE", body
    assert body["result"]["step"] == "download_result"


def test_an_unreachable_result_is_result_unavailable(case, server, build, run_job):
    server.script(*case.result, Reply(503, "down"), times=ALWAYS)
    body = run_job(build())
    assert body["errorCode"] == "RESULT_UNAVAILABLE", body

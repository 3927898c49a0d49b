"""The shared HTTP helper on its own: what is resent and what is not, Retry-After forms,
and which public base URLs give providers signed input URLs."""
import email.utils
import socket
import time

import pytest

from tests.providers.fake_server import FakeServer, FastTiming, Reply
from tryon.providers.base import JobContext, ProviderError
from tryon.providers.remote import RESUME_GRACE, Refused, RemoteHttp, _retry_after, job_deadline
from tryon.queue.processing import _is_public_base_url


class Echo(FakeServer):
    def route(self, method, path, body, headers):
        return Reply(body={"id": "remote-1"})


@pytest.fixture
def echo():
    server = Echo().start()
    yield server
    server.stop()


def client(**kwargs):
    return RemoteHttp("Test", timing=FastTiming(), request_timeout=0.3, **kwargs)


def test_a_submission_that_timed_out_is_not_sent_twice(echo):
    echo.script("POST", "/run", Reply(hang=True))
    http = client()
    with pytest.raises(ProviderError) as failure:
        http.post_json(echo.url + "/run", {}, deadline=http.timing.monotonic() + 30,
                       step="submit", creates_job=True)
    assert failure.value.error_code == "GENERATION_FAILED"
    assert "not sent again" in failure.value.message
    assert len(echo.calls("POST")) == 1


def test_an_idempotent_request_that_timed_out_is_resent(echo):
    echo.script("POST", "/run", Reply(hang=True))
    http = client()
    answer = http.post_json(echo.url + "/run", {}, deadline=http.timing.monotonic() + 30,
                            step="submit")
    assert answer == {"id": "remote-1"} and len(echo.calls("POST")) == 2


def test_a_refused_connection_is_retried_even_for_a_submission():
    with socket.socket() as sock:   # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http = client()
    with pytest.raises(ProviderError) as failure:
        http.post_json(f"http://127.0.0.1:{port}/run", {}, deadline=http.timing.monotonic() + 300,
                       step="submit", creates_job=True)
    assert "Could not reach Test" in failure.value.message
    assert len(http.timing.sleeps) == 5


def free_port():
    with socket.socket() as sock:   # a port nobody listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("status", [429, 503])
def test_a_refusal_is_handed_back_at_once_when_asked(echo, status):
    echo.script("POST", "/run", Reply(status, {}, headers={"Retry-After": "12"}))
    http = client()
    with pytest.raises(Refused) as refusal:
        http.post_json(echo.url + "/run", {}, deadline=http.timing.monotonic() + 300,
                       step="submit", hand_back_refusals=True)
    assert refusal.value.retry_after >= 12 and not http.timing.sleeps
    assert len(echo.calls("POST")) == 1


def test_a_refused_connection_is_handed_back_at_once_when_asked():
    http = client()
    with pytest.raises(Refused) as refusal:
        http.post_json(f"http://127.0.0.1:{free_port()}/run", {}, step="submit",
                       deadline=http.timing.monotonic() + 300, hand_back_refusals=True)
    assert refusal.value.retry_after == 0 and not http.timing.sleeps


def test_other_server_errors_are_still_retried_when_refusals_are_handed_back(echo):
    echo.script("POST", "/run", Reply(500, {}))
    http = client()
    answer = http.post_json(echo.url + "/run", {}, deadline=http.timing.monotonic() + 300,
                            step="submit", hand_back_refusals=True)
    assert answer == {"id": "remote-1"} and len(echo.calls("POST")) == 2


def test_retry_after_as_an_http_date():
    class Answer:
        headers = {"Retry-After": email.utils.formatdate(time.time() + 20, usegmt=True)}
    assert 18 <= _retry_after(Answer, FastTiming()) <= 22


@pytest.mark.parametrize("url, public", [
    (None, False), ("", False), ("https://tryon.example.com", True),
    ("http://203.0.113.9:8000", False),      # documentation range, not global
    ("http://8.8.8.8", True), ("http://localhost:8000", False), ("http://127.0.0.1", False),
    ("http://10.0.0.5", False), ("ftp://tryon.example.com", False),
])
def test_which_public_base_urls_providers_can_reach(url, public):
    assert _is_public_base_url(url) is public


def test_a_resumed_job_keeps_the_deadline_of_its_first_submission():
    timing = FastTiming()
    now = timing.monotonic()
    context = JobContext(deadline=now + 600)
    submitted = {"provider": "p", "id": "r1", "submittedAt": time.time() - 500}
    assert job_deadline(context, timing, 600) == now + 600      # nothing to resume
    left = job_deadline(context, timing, 600, resumed=submitted) - now
    assert 95 <= left <= 101                                    # 600 s from the submission


def test_a_resumed_job_past_its_deadline_gets_a_grace_to_collect_its_result():
    timing = FastTiming()
    now = timing.monotonic()
    submitted = {"provider": "p", "id": "r1", "submittedAt": time.time() - 3600}
    left = job_deadline(JobContext(deadline=now + 600), timing, 600, resumed=submitted) - now
    assert RESUME_GRACE - 1 <= left <= RESUME_GRACE + 1

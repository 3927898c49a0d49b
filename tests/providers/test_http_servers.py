"""The http provider across several model servers (TRYON_HTTP_PROVIDER_URL is a list): which
server a new job goes to, skipping servers that turn it away, staying on the chosen server
for polls and resumes, and resubmitting once to a server that restarted and lost the job."""
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes import make_image_bytes
from tests.helpers import submit, wait_for, wait_for_status
from tests.live import LiveServer
from tests.providers.fake_server import FastTiming, Reply
from tests.providers.fakes import FakeModelServer
from tests.providers.test_restart_resumes import job_row
from tryon.providers import GenerationRequest, InputImage, JobContext, ProviderError
from tryon.providers.http import HttpProvider
from tryon.providers.remote import RetryPolicy, Timing
from tryon.store import accounts, db

TOKEN = "gpu-box-token"
ALWAYS = 1000   # "times" for a scripted answer that never stops
CREDITS = 10


@pytest.fixture
def servers():
    """Three fake model servers, stopped after the test (a test may stop one earlier)."""
    fakes = [FakeModelServer().start() for _ in range(3)]
    yield fakes
    for fake in fakes:
        fake.stop()


def provider(*fakes, timing=None, policy=None):
    urls = ",".join(fake.url for fake in fakes)
    return HttpProvider(urls, token=TOKEN, timeout=60, timing=timing or FastTiming(),
                        policy=policy)


def request(job_id="job-abc"):
    image = InputImage(data=make_image_bytes(), mime="image/jpeg", width=512, height=640)
    return GenerationRequest(job_id=job_id, person=image, garment=image)


def run(http, job_id="job-abc", remote_state=None):
    """generate() one job; return (its result, the remote states it saved, in order)."""
    saved = []
    result = http.generate(request(job_id), JobContext(remote_state=remote_state,
                                                       save_remote_state=saved.append))
    return result, saved


def posts(fake):
    return fake.calls("POST", "/v1/tryon")


def polls(fake):
    return fake.calls("GET", "/v1/tryon/")


# --- configuration -----------------------------------------------------------------------

def test_one_url_still_works_and_a_list_is_read_in_order():
    assert HttpProvider("http://gpu-a:9000/").servers.urls == ["http://gpu-a:9000"]
    listed = HttpProvider(" http://gpu-a:9000/ , https://gpu-b , ")
    assert listed.servers.urls == ["http://gpu-a:9000", "https://gpu-b"]
    assert listed.configuration_problems() == []


def test_configuration_problems_name_each_bad_entry():
    problems = HttpProvider("http://gpu-a,gpu-b:9000,ftp://gpu-c,http://gpu-a").\
        configuration_problems()
    assert problems == [
        "TRYON_HTTP_PROVIDER_URL entry 'gpu-b:9000' is not an http(s) URL",
        "TRYON_HTTP_PROVIDER_URL entry 'ftp://gpu-c' is not an http(s) URL",
        "TRYON_HTTP_PROVIDER_URL lists 'http://gpu-a' twice",
    ]
    assert HttpProvider(" , ").configuration_problems() == ["TRYON_HTTP_PROVIDER_URL is not set"]


# --- routing -----------------------------------------------------------------------------

def test_each_new_job_goes_to_the_server_with_fewest_of_our_jobs(servers):
    a, b, _ = servers
    # Real (short) waits: held jobs must stay in flight while the next ones are placed.
    http = provider(a, b, timing=Timing(), policy=RetryPolicy(poll_first_delay=0.01,
                                                              poll_max_delay=0.02))
    a.hold.set()
    b.hold.set()
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(run, http, "job-1")
        wait_for(lambda: len(posts(a)) == 1)     # 0/0: a tie goes to the first listed
        second = pool.submit(run, http, "job-2")
        wait_for(lambda: len(posts(b)) == 1)     # 1/0
        third = pool.submit(run, http, "job-3")
        wait_for(lambda: len(posts(a)) == 2)     # 1/1: a tie again
        assert http.servers.in_flight() == {a.url: 2, b.url: 1}
        a.hold.clear()
        b.hold.clear()
        results = [future.result(timeout=15) for future in (first, second, third)]

    assert [r[0].metadata["remote"]["server"] for r in results] == [a.url, b.url, a.url]
    assert [r[1][-1]["server"] for r in results] == [a.url, b.url, a.url]   # saved state
    assert [p.headers["Idempotency-Key"] for p in posts(a)] == ["job-1", "job-3"]
    assert http.servers.in_flight() == {a.url: 0, b.url: 0}    # released when done


def test_a_failed_job_gives_its_place_back(servers):
    a, b, _ = servers
    a.failure = {"code": "GENERATION_FAILED", "message": "nan latents"}
    http = provider(a, b)
    with pytest.raises(ProviderError):
        run(http)
    assert http.servers.in_flight() == {a.url: 0, b.url: 0}
    a.failure = None
    run(http, "job-2")
    assert len(posts(a)) == 2 and not posts(b)


def stop(fake):
    fake.stop()      # its port now refuses connections


@pytest.mark.parametrize("turn_away", [
    lambda fake: fake.script("POST", "/v1/tryon", Reply(429, {"error": {"message": "queue full"}},
                                                        headers={"Retry-After": "30"})),
    lambda fake: fake.script("POST", "/v1/tryon", Reply(503, {"error": {"message": "loading"}},
                                                        headers={"Retry-After": "30"})),
    stop,
], ids=["429", "503", "refused"])
def test_a_server_that_turns_the_job_away_is_skipped_at_once(servers, turn_away):
    a, b, _ = servers
    b.polls_needed = 1
    turn_away(a)
    timing = FastTiming()
    result, saved = run(provider(a, b, timing=timing))
    assert saved[-1]["server"] == b.url and result.metadata["remote"]["server"] == b.url
    assert len(posts(b)) == 1 and not polls(a)
    # The only wait was the one poll before the job finished: none before trying b.
    assert timing.sleeps == [pytest.approx(RetryPolicy().poll_first_delay)]


def test_when_every_server_refuses_it_waits_for_the_first_that_may_take_it(servers):
    a, b, _ = servers
    a.script("POST", "/v1/tryon", Reply(503, {}, headers={"Retry-After": "20"}))
    b.script("POST", "/v1/tryon", Reply(429, {}, headers={"Retry-After": "4"}))
    timing = FastTiming()
    _, saved = run(provider(a, b, timing=timing))
    # One wait, as long as b asked for (and well short of a's 20 s), then b alone is due.
    assert 4 <= timing.sleeps[0] < 20
    assert saved[-1]["server"] == b.url
    assert len(posts(a)) == 1 and len(posts(b)) == 2


def test_when_every_server_keeps_refusing_the_job_fails_at_its_deadline_naming_each(servers):
    a, b, _ = servers
    for fake in (a, b):
        fake.script("POST", "/v1/tryon", Reply(503, {"error": {"message": "warming"}},
                                               headers={"Retry-After": "1"}), times=ALWAYS)
    timing = FastTiming()
    with pytest.raises(ProviderError) as failure:
        run(provider(a, b, timing=timing))      # a 60 s deadline
    assert "deadline" in failure.value.message
    assert "No model server took the job" in failure.value.message
    assert a.url in failure.value.message and b.url in failure.value.message
    # Back-off 1, 2, 4, 8, 16, then 30 s would pass the deadline: six rounds, five waits.
    assert len(posts(a)) == len(posts(b)) == 6
    assert len(timing.sleeps) == 5 and min(timing.sleeps) >= 1


def test_a_model_server_away_longer_than_five_retries_still_finishes_the_job(servers):
    """A restart that loads real weights takes minutes: polls keep trying until the job's
    deadline, not for a fixed count (MODEL_SERVER_POLICY)."""
    a, _, _ = servers
    a.script("GET", "/v1/tryon/", Reply(503, {}, headers={"Retry-After": "2"}), times=12)
    http = HttpProvider(a.url, token=TOKEN, timeout=600, timing=FastTiming())
    result, _ = run(http)
    assert result.image
    assert len(polls(a)) >= 13


def test_a_retry_after_past_the_deadline_fails_at_once(servers):
    a, b, _ = servers
    for fake in (a, b):
        fake.script("POST", "/v1/tryon", Reply(429, {}, headers={"Retry-After": "3600"}),
                    times=ALWAYS)
    with pytest.raises(ProviderError) as failure:
        run(provider(a, b))
    assert "deadline" in failure.value.message
    assert len(posts(a)) == len(posts(b)) == 1


def test_a_submission_that_may_have_reached_a_server_stays_with_it(servers):
    a, b, _ = servers
    a.script("POST", "/v1/tryon", Reply(hang=True))   # sent, then no answer in time
    a.script("POST", "/v1/tryon", Reply(503, {}))     # and busy when it is resent
    http = provider(a, b)
    http.http.request_timeout = 0.3
    _, saved = run(http)
    # Resent to a with the same key (the contract makes that safe), never to b, not even
    # when a then answers 503: a may already be running it.
    assert saved[-1]["server"] == a.url
    assert [p.headers["Idempotency-Key"] for p in posts(a)] == ["job-abc"] * 3
    assert not posts(b)


# --- staying on the chosen server ----------------------------------------------------------

def test_polls_and_the_download_go_to_the_chosen_server_only(servers):
    a, b, _ = servers
    a.script("POST", "/v1/tryon", Reply(503, {}), times=ALWAYS)
    run(provider(a, b))
    assert len(polls(b)) == b.polls_needed and len(b.calls("GET", "/results/")) == 1
    (download,) = b.calls("GET", "/results/")
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"
    assert not polls(a) and not a.calls("GET", "/results/")


def first_attempt_dies(http, fake):
    """Run a job until its deadline while `fake` holds it; return the states it saved (as
    our own process would have left them when it died)."""
    saved = []
    fake.hold.set()
    with pytest.raises(ProviderError):
        http.generate(request(), JobContext(save_remote_state=saved.append,
                                            deadline=http.http.timing.monotonic() + 5))
    fake.hold.clear()
    return saved


def test_our_restart_resumes_the_job_on_its_saved_server(servers):
    a, b, _ = servers
    a.script("POST", "/v1/tryon", Reply(429, {}))
    saved = first_attempt_dies(provider(a, b), b)
    assert saved[-1]["server"] == b.url
    polls_before = len(polls(b))

    restarted = provider(a, b)     # a fresh process: no jobs in flight anywhere
    result, _ = run(restarted, remote_state=saved[-1])
    assert result.metadata["remote"] == {"provider": "http", "id": saved[-1]["id"],
                                         "server": b.url}
    assert len(posts(b)) == 1 and len(polls(b)) > polls_before
    assert len(posts(a)) == 1 and not polls(a)


@pytest.mark.slow
def test_a_killed_process_resumes_the_job_on_its_server(tmp_path, servers):
    a, b, _ = servers
    a.script("POST", "/v1/tryon", Reply(503, {}), times=ALWAYS)   # so the job goes to b
    b.hold.set()
    server = LiveServer(tmp_path, PROVIDER="http", WORKERS=1, JOB_LEASE_SECONDS=1,
                        HTTP_PROVIDER_URL=f"{a.url},{b.url}", HTTP_PROVIDER_TOKEN=TOKEN)
    try:
        server.start()
        user_id, key = server.create_user("restart@example.com", CREDITS)
        job_id = server.submit_job(key)
        wait_for(lambda: polls(b), timeout=20)
        server.kill()
        b.hold.clear()
        server.start()
        wait_for(lambda: job_row(server, job_id)["state"] == "completed", timeout=30)
        remote = json.loads(job_row(server, job_id)["remote_state"])
        conn = server.connect()
        try:
            balance = accounts.balance(conn, user_id)
        finally:
            conn.close()
    finally:
        server.stop()
    assert remote["server"] == b.url
    assert len(posts(b)) == 1 and not polls(a)
    assert balance == CREDITS - 1


def test_state_saved_before_the_list_resumes_on_the_first_server(servers):
    a, b, _ = servers
    saved = first_attempt_dies(provider(a), a)
    legacy = {key: value for key, value in saved[-1].items() if key != "server"}
    # b would not know the job: it answers 404, and the job would be resubmitted there.
    result, _ = run(provider(a, b), remote_state=legacy)
    assert result.metadata["remote"]["server"] == a.url
    assert len(posts(a)) == 1 and not b.requests


def test_a_job_on_a_server_no_longer_listed_is_still_collected_there(servers):
    a, b, c = servers
    saved = first_attempt_dies(provider(a, b), a)
    result, _ = run(provider(b, c), remote_state=saved[-1])   # a was taken out of the list
    assert result.metadata["remote"]["server"] == a.url
    assert polls(a)[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert len(posts(a)) == 1 and not b.requests and not c.requests


def test_a_server_no_longer_listed_that_lost_the_job_gets_no_new_work(servers):
    a, b, _ = servers
    saved = first_attempt_dies(provider(a, b), a)
    a.forget_jobs()
    with pytest.raises(ProviderError) as failure:
        run(provider(b), remote_state=saved[-1])
    assert failure.value.error_code == "GENERATION_FAILED"
    assert "no longer in TRYON_HTTP_PROVIDER_URL" in failure.value.message
    assert len(posts(a)) == 1 and not b.requests


# --- a model server that restarted --------------------------------------------------------

def test_a_lost_job_is_resubmitted_once_to_the_same_server(servers):
    a, b, _ = servers
    a.restart_before_checks = {1}
    result, saved = run(provider(a, b))
    assert [p.headers["Idempotency-Key"] for p in posts(a)] == ["job-abc", "job-abc"]
    assert not b.requests
    first, second = saved
    assert first == {"provider": "http", "id": "job-1", "server": a.url,
                     "submittedAt": first["submittedAt"]}
    # The new id, marked as resubmitted; the deadline still counts from the first submission.
    assert second == {**first, "id": "job-2", "resubmitted": True}
    assert result.metadata["remote"]["id"] == "job-2"


def test_a_job_lost_again_after_its_resubmission_fails(servers):
    a, _, _ = servers
    a.restart_before_checks = {1, 2}
    with pytest.raises(ProviderError) as failure:
        run(provider(a))
    assert failure.value.error_code == "GENERATION_FAILED"
    assert "lost the job again after it was resubmitted once" in failure.value.message
    assert len(posts(a)) == 2


def test_the_resubmission_is_remembered_across_our_own_restart(servers):
    a, _, _ = servers
    resubmitted = {"provider": "http", "id": "job-7", "server": a.url,
                   "submittedAt": time.time(), "resubmitted": True}
    with pytest.raises(ProviderError) as failure:
        run(provider(a), remote_state=resubmitted)    # a does not know job-7
    assert "after it was resubmitted once" in failure.value.message
    assert not posts(a)


def test_a_restarted_server_still_loading_gets_the_resubmission_once_ready(servers):
    a, _, _ = servers
    # The first answer names a job the server does not know at the first check (it restarted
    # in between); then it answers 503 while it loads its model, twice.
    a.script("POST", "/v1/tryon", Reply(202, {"id": "gone-1", "status": "queued"}))
    a.script("POST", "/v1/tryon", Reply(503, {}, headers={"Retry-After": "3"}), times=2)
    timing = FastTiming()
    result, saved = run(provider(a, timing=timing))
    assert result.metadata["remote"]["id"] == "job-1" and saved[-1]["resubmitted"] is True
    assert len(posts(a)) == 4
    assert sum(1 for seconds in timing.sleeps if seconds >= 3) == 2   # as Retry-After asked


# --- through the API: charged once -------------------------------------------------------

@pytest.fixture
def two_server_app(servers, provider_app):
    a, b, _ = servers
    return provider_app("http", HttpProvider, HTTP_PROVIDER_URL=f"{a.url},{b.url}",
                        HTTP_PROVIDER_TOKEN=TOKEN)


def balance_and_ledger(app, user_id):
    conn = db.connect(app.config["DATABASE"])
    try:
        return accounts.balance(conn, user_id), accounts.ledger_sum(conn, user_id)
    finally:
        conn.close()


def submit_and_wait(app, key):
    client = app.test_client()
    response = submit(client, key)
    assert response.status_code == 202, response.get_json()
    return wait_for_status(client, key, response.get_json()["jobId"])


def test_a_job_its_server_lost_completes_and_is_charged_once(servers, two_server_app,
                                                             make_user):
    a, _, _ = servers
    a.restart_before_checks = {1}
    user_id, key = make_user(credits=CREDITS)
    body = submit_and_wait(two_server_app, key)
    assert body["status"] == "completed", body
    assert body["result"]["remote"] == {"provider": "http", "id": "job-2", "server": a.url}
    assert balance_and_ledger(two_server_app, user_id) == (CREDITS - 1, CREDITS - 1)


def test_a_job_lost_twice_fails_and_is_refunded(servers, two_server_app, make_user):
    a, _, _ = servers
    a.restart_before_checks = {1, 2}
    user_id, key = make_user(credits=CREDITS)
    body = submit_and_wait(two_server_app, key)
    assert body["errorCode"] == "GENERATION_FAILED", body
    assert "resubmitted once" in body["error"]
    assert balance_and_ledger(two_server_app, user_id) == (CREDITS, CREDITS)

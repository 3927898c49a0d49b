"""The `http` provider: our own small contract for a team's GPU boxes running an open model
(our own `tryon.modelserver`, or IDM-VTON, CatVTON, FASHN VTON 1.5, ... behind a server of
their own). docs/providers.md documents it for whoever writes the server side.

    POST {server}/v1/tryon        start a job (Idempotency-Key: our job id)
    GET  {server}/v1/tryon/{id}   its state

Both answer {"id", "status": queued | running | completed | failed, "output": {"image_url"},
"error": {"code", "name", "message"}}. A server may also finish within the POST and answer
"completed" at once. Because every submission carries an Idempotency-Key, a submission whose
answer was lost can be sent again safely.

Several servers: TRYON_HTTP_PROVIDER_URL is a comma-separated list. A new job goes to the one
with the fewest of our jobs in flight (model_servers.py says how, and what happens when one
turns it away). The chosen server is saved in the job's remote state, and the job stays on it:
its state lives in that server's memory, so polls, the result download and resuming after
our own restart all go there. Saved state from before this list existed has no server; it
resumes on the first one listed.

A model server that restarts forgets its jobs and answers 404 for their ids. The job is then
resubmitted once, to the same server, with the same Idempotency-Key (our credits were charged
at our own submission, so the user pays once); "resubmitted" in the remote state keeps it to
once across our own restarts, and a second 404 fails the job.

A resumed job whose server is no longer listed (an operator draining or retiring it) is still
polled there, token included: its job may be running or done there, the address came from our
own configuration when the job started, and that server already had the token then, so
finishing the job sends it nowhere new; the job's deadline bounds how long it keeps trying.
New work never goes to an unlisted server: if it has lost the job, the job fails instead of
being resubmitted there.
"""
from .. import errors
from .base import GenerationResult, Provider, ProviderError
from .model_servers import ServerPool, parse_server_urls, url_problems
from .remote import (
    InputLimits,
    RemoteHttp,
    RetryPolicy,
    error_for_status,
    image_reference,
    job_deadline,
    json_or_empty,
    missing_settings,
    remember_remote_job,
    same_origin,
    saved_remote_job,
)

LIMITS = InputLimits(max_width=2048, max_height=2048, max_inline_bytes=8 * 1024 * 1024)
RUNNING = ("queued", "running")
# errorCodes a model server may report as they are; anything else is SERVICE_SPECIFIC_ERROR.
PASSED_THROUGH = (errors.INVALID_PERSON_IMAGE, errors.INVALID_GARMENT_IMAGE,
                  errors.VALIDATION_FAILED, errors.GENERATION_FAILED,
                  errors.SERVICE_SPECIFIC_ERROR)


# Our own model servers restart (systemd after a GPU fault, a deploy) and then take as long
# as loading their weights, a minute or more, before they answer again; every job on them is
# pinned and paid for. So retries to them (refused connections, 429 and 503 with Retry-After)
# are bounded by the job's deadline (TRYON_PROVIDER_TIMEOUT), not by a count that a slow
# restart would exhaust: back-off doubles to 30 s, so 600 s of deadline is about 25 retries.
MODEL_SERVER_POLICY = RetryPolicy(max_retries=1000)


# Status checks ask the server to hold its answer until the job finishes, up to this long
# (`?wait=`, docs/providers.md): our model server answers the moment the result exists, where
# polling alone adds up to a poll interval (1-10 s) to every job. Servers that ignore it
# answer at once and are polled with back-off as before. Well under the 60 s request timeout.
LONG_POLL_SECONDS = 20


def _long_poll_seconds(timing, deadline, longest=LONG_POLL_SECONDS):
    """The wait to ask for: `longest`, less near the deadline, so that the answer comes (with
    5 s to spare for the exchange) before the job's deadline."""
    return round(max(0.0, min(longest, deadline - timing.monotonic() - 5)), 1)


class LostJob(ProviderError):
    """A status check answered 404: the model server no longer knows our remote job."""


class HttpProvider(Provider):
    name = "http"

    def __init__(self, url, *, token=None, timeout=600, timing=None, policy=None,
                 long_poll_seconds=LONG_POLL_SECONDS):
        self.servers = ServerPool(parse_server_urls(url))
        self.long_poll_seconds = long_poll_seconds
        self.token = token
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = RemoteHttp("the model server", headers=headers,
                               describe_error=_describe_api_error, timing=timing,
                               policy=policy or MODEL_SERVER_POLICY)

    @classmethod
    def from_config(cls, config, **kwargs):
        return cls(config.get("HTTP_PROVIDER_URL"), token=config.get("HTTP_PROVIDER_TOKEN"),
                   timeout=config.get("PROVIDER_TIMEOUT", 600), **kwargs)

    def configuration_problems(self):
        return (missing_settings(HTTP_PROVIDER_URL=self.servers.urls)
                + url_problems("HTTP_PROVIDER_URL", self.servers.urls))

    def generate(self, request, context):
        remote = saved_remote_job(context, self.name)
        deadline = job_deadline(context, self.http.timing, self.timeout, resumed=remote)
        server, remote, answer = self._start_or_resume(request, context, remote, deadline)
        try:
            image_url, remote = self._follow(request, context, remote, server, answer, deadline)
            # Our token goes only to the model server itself, never to a storage host it names.
            headers = dict(self.http.headers) if same_origin(image_url, server) else None
            image = self.http.download(image_url, deadline=deadline, headers=headers)
        finally:
            self.servers.release(server)
        return GenerationResult(image=image, metadata={
            "remote": {"provider": self.name, "id": remote["id"], "server": server}})

    def _start_or_resume(self, request, context, remote, deadline):
        """Submit a new job to the least loaded server, or take up the saved one; return
        (server, remote state, the submission's answer or None). The job then holds a claim
        on its server, which generate() releases."""
        if remote is not None:
            # State saved before several servers existed has no server: there was one.
            server = remote.get("server") or self.servers.urls[0]
            self.servers.claim(server)
            return server, remote, None
        server, answer = self.servers.place(
            lambda url: self._submit(url, request, deadline, hand_back_refusals=True),
            http=self.http, deadline=deadline)
        try:
            remote = remember_remote_job(context, self.name, answer["id"], server=server)
        except BaseException:
            self.servers.release(server)
            raise
        return server, remote, answer

    def _follow(self, request, context, remote, server, answer, deadline):
        """Poll the job until it finishes; return (its image URL, the remote state it ended
        with). A job the server lost is resubmitted there once."""
        while True:
            try:
                check = self._status_check(server, remote["id"], answer, deadline)
                return self.http.poll(check, deadline=deadline), remote
            except LostJob as lost:
                remote, answer = self._resubmit(request, context, remote, server, lost,
                                                deadline)

    def _status_check(self, server, remote_id, answer, deadline):
        """A check for RemoteHttp.poll: the job's image URL once completed, None meanwhile.
        `answer` (the submission's answer, if any) is used as the first check. While the
        server holds each answer for the wait asked (`?wait=`), the check asks again at once
        rather than returning to the poll's sleep, in which the result would wait for us."""
        def check():
            nonlocal answer
            while True:
                held = False
                if answer is None:
                    answer, held = self._status(server, remote_id, deadline)
                outcome, answer = _outcome(answer), None
                if outcome is not None or not held:
                    return outcome
        return check

    def _status(self, server, remote_id, deadline):
        """One status request: (its answer, whether the server held it for the wait)."""
        wait = _long_poll_seconds(self.http.timing, deadline, self.long_poll_seconds)
        asked_at = self.http.timing.monotonic()
        answer = self.http.get_json(f"{server}/v1/tryon/{remote_id}?wait={wait:g}",
                                    deadline=deadline, step="poll",
                                    describe_error=_describe_poll_error)
        held = wait > 0 and self.http.timing.monotonic() - asked_at >= 0.9 * wait
        return answer, held

    def _resubmit(self, request, context, remote, server, lost, deadline):
        """Send a job its server lost (it restarted) to that server again, once; return the
        new remote state and the server's answer."""
        if remote.get("resubmitted"):
            raise ProviderError(
                errors.GENERATION_FAILED,
                f"The model server at {server} lost the job again after it was resubmitted "
                "once (it restarted twice while the job ran); it is not sent a third time.",
                provider_message=lost.provider_message, step="poll")
        if not self.servers.is_configured(server):
            raise ProviderError(
                errors.GENERATION_FAILED,
                f"The model server at {server} lost the job, and it is no longer in "
                "TRYON_HTTP_PROVIDER_URL, so the job is not sent to it again.",
                provider_message=lost.provider_message, step="poll")
        answer = self._submit(server, request, deadline)
        # The first submission's time is kept: a resubmission does not extend the deadline.
        kept = {"submittedAt": remote["submittedAt"]} if "submittedAt" in remote else {}
        remote = remember_remote_job(context, self.name, answer["id"], server=server,
                                     resubmitted=True, **kept)
        return remote, answer

    def _submit(self, server, request, deadline, hand_back_refusals=False):
        body = {
            "person_image": image_reference(request.person, LIMITS),
            "garment_image": image_reference(request.garment, LIMITS),
            "options": {name: value for name, value in request.options.items()
                        if name in ("category", "seed", "fast_mode", "garment_description")},
        }
        # The Idempotency-Key makes a resent submission safe, so it is retried like a poll.
        answer = self.http.post_json(f"{server}/v1/tryon", body, deadline=deadline,
                                     step="submit", headers={"Idempotency-Key": request.job_id},
                                     hand_back_refusals=hand_back_refusals)
        if not answer.get("id"):
            raise ProviderError(errors.GENERATION_FAILED,
                                "The model server accepted the job without an id.", step="submit")
        return answer


def _outcome(answer):
    """The result image URL once completed, None while queued or running; raises if failed."""
    status = answer.get("status")
    if status == "completed":
        return (answer.get("output") or {}).get("image_url") or ""
    if status in RUNNING:
        return None
    if status == "failed":
        error = answer.get("error") or {}
        code = error.get("code") if error.get("code") in PASSED_THROUGH else \
            errors.SERVICE_SPECIFIC_ERROR
        message = str(error.get("message") or "")
        raise ProviderError(code, f"The model server could not generate the image: {message}"
                            .rstrip(": "), provider_error=error.get("name") or error.get("code"),
                            provider_message=message, step="generate")
    raise ProviderError(errors.GENERATION_FAILED,
                        f"The model server answered an unknown status {status!r}.", step="poll")


def _describe_api_error(response, step):
    error = json_or_empty(response).get("error") or {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    return error_for_status("The model server", response.status_code,
                            error.get("name") or error.get("code"), error.get("message"), step)


def _describe_poll_error(response, step):
    """As _describe_api_error, except that a 404 is a LostJob: the contract says a server
    answers 404 for an id it does not know, which after a restart is every earlier job."""
    if response.status_code != 404:
        return _describe_api_error(response, step)
    message = (json_or_empty(response).get("error") or {})
    message = message.get("message") if isinstance(message, dict) else str(message)
    return LostJob(errors.GENERATION_FAILED, "The model server no longer knows the job.",
                   provider_error="HTTP 404", provider_message=message, step=step)

"""What every remote provider needs: HTTP calls that retry sensibly, polling that backs off,
one overall deadline, downloading the result, and inputs shrunk to the provider's limits.

Retry rules (the same for every provider):
- 429, 5xx and connection failures are retried with jittered exponential back-off; a
  Retry-After header is honoured (we never retry sooner than it asks).
- Other 4xx are not retried: the provider's `describe_error` turns them into a ProviderError.
- A submission that creates a remote job (`creates_job=True`) is only resent when we know the
  first one did not start a job: a 429 or 5xx answer, or a connection that was never made.
  A submission that timed out after it was sent may have started a paid job we cannot see,
  so it fails instead of paying twice.
- A caller with somewhere else to send a request (`hand_back_refusals=True`: the `http`
  provider with several model servers) gets a refusal back at once as `Refused` instead of a
  retry: a 429 or 503 answer, or a connection that was never made. Once an attempt may have
  reached the server (it was sent, then timed out), refusals are retried here as usual: that
  server may already have the job.
- Nothing waits past the deadline: a retry or poll that would end after it fails the job with
  GENERATION_FAILED at once.
"""
import base64
import binascii
import email.utils
import io
import random
import time
from abc import abstractmethod
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from PIL import Image
from urllib3.exceptions import ConnectTimeoutError

from .. import errors
from .base import GenerationResult, Provider, ProviderError

MAX_RESULT_BYTES = 64 * 1024 * 1024
DEFAULT_REQUEST_TIMEOUT = 60     # seconds one HTTP exchange may take (FASHN's /run can take >10 s)


class Timing:
    """The clock and the sleep the helpers use; tests pass a fake one so no test really waits."""

    def monotonic(self):
        return time.monotonic()

    def sleep(self, seconds):
        time.sleep(seconds)

    def jitter(self):
        """A random number in [0, 1)."""
        return random.random()


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5            # retries after the first attempt
    first_delay: float = 1.0        # seconds; doubles on each retry
    max_delay: float = 30.0
    poll_first_delay: float = 1.0   # seconds between status checks; grows by half each time
    poll_max_delay: float = 10.0


class Refused(ProviderError):
    """A request the server turned away before doing anything with it (a 429 or 503 answer, or
    a connection never made); `retry_after` is the seconds it asked us to wait (0: it did not
    say)."""

    def __init__(self, failure, retry_after):
        super().__init__(failure.error_code, failure.message,
                         provider_error=failure.provider_error,
                         provider_message=failure.provider_message, step=failure.step)
        self.retry_after = retry_after


class RemoteHttp:
    """HTTP to one provider: JSON requests with retries, polling, result downloads.

    `describe_error(response, step)` returns the ProviderError for an error answer (the
    provider knows its own error bodies); `is_retryable(response)` may refuse to retry a 429
    that will not get better by waiting (e.g. out of credits).
    """

    def __init__(self, provider_label, *, headers=None, describe_error=None, is_retryable=None,
                 timing=None, policy=None, request_timeout=DEFAULT_REQUEST_TIMEOUT):
        self.label = provider_label
        self.headers = dict(headers or {})
        self.describe_error = describe_error or (
            lambda response, step: error_for_status(self.label, response.status_code,
                                                    None, response.text[:300], step))
        self.is_retryable = is_retryable or (lambda response: True)
        self.timing = timing or Timing()
        self.policy = policy or RetryPolicy()
        self.request_timeout = request_timeout

    # --- requests ------------------------------------------------------------------------

    def request(self, method, url, *, deadline, step, json_body=None, creates_job=False,
                headers=None, describe_error=None, hand_back_refusals=False):
        """Send one request, retrying what is worth retrying; return the successful
        requests.Response or raise ProviderError (Refused: see the module docstring)."""
        describe_error = describe_error or self.describe_error
        retries = 0
        hand_back = hand_back_refusals
        while True:
            try:
                response = requests.request(
                    method, url, json=json_body, headers={**self.headers, **(headers or {})},
                    timeout=self._timeout(deadline, step), allow_redirects=not creates_job)
            except requests.RequestException as exc:
                if creates_job and not _never_sent(exc):
                    raise ProviderError(
                        errors.GENERATION_FAILED,
                        f"{self.label} did not answer the submission ({type(exc).__name__}); "
                        "it may have started a job we cannot see, so it is not sent again.",
                        step=step) from None
                failure = ProviderError(errors.GENERATION_FAILED,
                                        f"Could not reach {self.label} ({type(exc).__name__}).",
                                        step=step)
                if not _never_sent(exc):
                    hand_back = False   # it may have reached the server: stay with that server
                elif hand_back:
                    raise Refused(failure, 0.0) from None
                delay = self._backoff(retries)
            else:
                if response.status_code < 400:
                    return response
                failure = describe_error(response, step)
                if not _retryable_status(response.status_code) or not self.is_retryable(response):
                    raise failure
                retry_after = _retry_after(response, self.timing)
                if hand_back and response.status_code in (429, 503):
                    raise Refused(failure, retry_after)
                delay = max(self._backoff(retries), retry_after)
            retries += 1
            if retries > self.policy.max_retries:
                raise failure
            self._wait_before_retry(delay, deadline, step, failure)

    def get_json(self, url, *, deadline, step, **kwargs):
        return self.json_of(self.request("GET", url, deadline=deadline, step=step, **kwargs), step)

    def post_json(self, url, body, *, deadline, step, **kwargs):
        response = self.request("POST", url, json_body=body, deadline=deadline, step=step,
                                **kwargs)
        return self.json_of(response, step)

    def json_of(self, response, step):
        """The JSON object of a response; malformed or non-object JSON fails the job."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderError(errors.GENERATION_FAILED,
                                f"{self.label} answered with malformed JSON.",
                                provider_message=response.text[:300], step=step)
        return body

    # --- polling -------------------------------------------------------------------------

    def poll(self, check, *, deadline, step="poll"):
        """Call `check()` until it returns something other than None, waiting longer between
        calls (with jitter so that many jobs do not poll in lockstep)."""
        delay = self.policy.poll_first_delay
        while True:
            outcome = check()
            if outcome is not None:
                return outcome
            remaining = deadline - self.timing.monotonic()
            if remaining <= 0:
                raise self.deadline_error(step)
            jittered = delay * (0.8 + 0.4 * self.timing.jitter())
            self.timing.sleep(min(jittered, remaining))
            delay = min(delay * 1.5, self.policy.poll_max_delay)

    def deadline_error(self, step, last_failure=None):
        detail = f" (last: {last_failure.message})" if last_failure is not None else ""
        return ProviderError(errors.GENERATION_FAILED,
                             f"{self.label} did not finish before the deadline "
                             f"(TRYON_PROVIDER_TIMEOUT){detail}.", step=step)

    # --- results -------------------------------------------------------------------------

    def download(self, url, *, deadline, step="download_result", headers=None):
        """The bytes behind a result URL (http(s) or a data: URI), fetched now: provider
        URLs expire. Anything that cannot be fetched is RESULT_UNAVAILABLE."""
        if not isinstance(url, str) or not url:
            raise ProviderError(errors.GENERATION_FAILED,
                                f"{self.label} reported success but returned no image.", step=step)
        if url.startswith("data:"):
            return decode_data_uri(url, self.label, step)
        if urlsplit(url).scheme not in ("http", "https"):
            raise ProviderError(errors.RESULT_UNAVAILABLE,
                                f"{self.label} returned a result URL we cannot fetch.", step=step)

        def unavailable(response, step):
            return ProviderError(errors.RESULT_UNAVAILABLE,
                                 f"The result could not be downloaded from {self.label} "
                                 f"(HTTP {response.status_code}); its URL may have expired.",
                                 step=step)

        try:
            response = self.request("GET", url, deadline=deadline, step=step,
                                    headers=headers, describe_error=unavailable)
        except ProviderError as exc:
            if exc.error_code == errors.RESULT_UNAVAILABLE:
                raise
            raise ProviderError(errors.RESULT_UNAVAILABLE,
                                f"The result could not be downloaded from {self.label}: "
                                f"{exc.message}", step=step) from None
        if len(response.content) > MAX_RESULT_BYTES:
            raise ProviderError(errors.GENERATION_FAILED,
                                f"{self.label} returned a result above {MAX_RESULT_BYTES} bytes.",
                                step=step)
        return response.content

    # --- waiting -------------------------------------------------------------------------

    def _timeout(self, deadline, step):
        remaining = deadline - self.timing.monotonic()
        if remaining <= 0:
            raise self.deadline_error(step)
        return min(self.request_timeout, remaining)

    def back_off(self, retries, *, deadline, step, failure, at_least=0.0):
        """Wait as `request` does before its retry number `retries + 1`, and never less than
        `at_least` seconds; fail with the deadline error at once if that wait would pass it."""
        self._wait_before_retry(max(self._backoff(retries), at_least), deadline, step, failure)

    def _backoff(self, retries):
        delay = min(self.policy.first_delay * 2 ** retries, self.policy.max_delay)
        return delay * (0.5 + self.timing.jitter())

    def _wait_before_retry(self, delay, deadline, step, failure):
        # Waiting past the deadline would only end in the same failure later.
        if self.timing.monotonic() + delay >= deadline:
            raise self.deadline_error(step, failure)
        self.timing.sleep(delay)


def error_for_status(label, status, name, message, step):
    """The errorCode an HTTP error answer maps to when the provider's body says nothing
    more specific."""
    if status in (401, 403):
        code = errors.CONSUMER_CONFIG_ERROR
        text = f"{label} rejected our credentials (HTTP {status}); check its API key setting."
    elif status == 402:
        code = errors.CONSUMER_CONFIG_ERROR
        text = f"{label} refused the job for billing reasons (HTTP 402)."
    elif status >= 500:
        code = errors.GENERATION_FAILED
        text = f"{label} had a server error (HTTP {status})."
    else:
        code = errors.SERVICE_SPECIFIC_ERROR
        text = f"{label} refused the request (HTTP {status})."
    return ProviderError(code, text, provider_error=name or f"HTTP {status}",
                         provider_message=message, step=step)


def _retryable_status(status):
    return status == 429 or status >= 500


def _never_sent(exc):
    """True when the request surely never reached the server (so resending is safe)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    # urllib3's NewConnectionError (connection refused) is a ConnectTimeoutError.
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, ConnectTimeoutError)


def _retry_after(response, timing):
    """Seconds the Retry-After header asks for (0 when absent or unreadable), plus up to a
    second of jitter so that waiting clients do not all come back at once."""
    value = response.headers.get("Retry-After")
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 0.0
        seconds = when.timestamp() - time.time()
    return max(seconds, 0.0) + timing.jitter()


def decode_data_uri(uri, label, step):
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise ProviderError(errors.GENERATION_FAILED,
                            f"{label} returned a data URI that is not base64.", step=step)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(errors.GENERATION_FAILED,
                            f"{label} returned an undecodable data URI.", step=step) from None


def json_or_empty(response):
    """The JSON body of an error answer, or {} (error bodies are often not JSON at all)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def same_origin(url, base_url):
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


# --- inputs --------------------------------------------------------------------------------

@dataclass(frozen=True)
class InputLimits:
    """What a provider accepts: the largest image, and the largest inline (data URI) image."""
    max_width: int
    max_height: int
    max_inline_bytes: int = 4 * 1024 * 1024
    quality: int = 95


def image_reference(image, limits):
    """How to send one input: our signed URL when we have one and the stored image is within
    the provider's pixel limits (the provider fetches it itself), else a data URI of a JPEG
    resized and re-encoded within the limits."""
    if image.url and image.width <= limits.max_width and image.height <= limits.max_height:
        return image.url
    return "data:image/jpeg;base64," + base64.b64encode(fit_jpeg(image, limits)).decode("ascii")


def fit_jpeg(image, limits):
    """JPEG bytes of `image` within the limits: scaled down to fit the box, then (if still too
    large for inline use) re-encoded at lower quality and smaller sizes."""
    fits_box = image.width <= limits.max_width and image.height <= limits.max_height
    if fits_box and image.mime == "image/jpeg" and len(image.data) <= limits.max_inline_bytes:
        return image.data  # already a clean JPEG (tryon.media.images re-encodes every upload)
    with Image.open(io.BytesIO(image.data)) as opened:
        picture = opened.convert("RGB")
    scale = min(1.0, limits.max_width / picture.width, limits.max_height / picture.height)
    quality = limits.quality
    for _ in range(10):
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        resized = picture if size == picture.size else picture.resize(size, Image.LANCZOS)
        out = io.BytesIO()
        resized.save(out, format="JPEG", quality=quality)
        if out.tell() <= limits.max_inline_bytes:
            return out.getvalue()
        # Bytes grow with the pixel count: shrink the sides by the square root of the excess
        # (and a little more), after first giving up some quality.
        if quality > 85:
            quality = 85
        else:
            scale *= min(0.9, 0.95 * (limits.max_inline_bytes / out.tell()) ** 0.5)
    return out.getvalue()


# --- jobs ----------------------------------------------------------------------------------

# A resumed job whose deadline passed while we were down still gets this long: its remote
# job may have finished meanwhile, and it is paid for.
RESUME_GRACE = 60.0


def job_deadline(context, timing, timeout, resumed=None):
    """The monotonic time by which the job must be done. The runner sets it from
    TRYON_PROVIDER_TIMEOUT (a provider used on its own falls back to its own timeout); for a
    resumed remote job it counts from that job's submission, so restarts do not extend it."""
    deadline = context.deadline if context.deadline is not None else timing.monotonic() + timeout
    submitted_at = (resumed or {}).get("submittedAt")
    if isinstance(submitted_at, (int, float)):
        left = timeout - (time.time() - submitted_at)
        deadline = min(deadline, timing.monotonic() + max(left, RESUME_GRACE))
    return deadline


def saved_remote_job(context, provider_name):
    """The remote job an earlier attempt of this job started with this provider, or None."""
    state = context.remote_state
    if state.get("provider") == provider_name and state.get("id"):
        return state
    return None


def remember_remote_job(context, provider_name, remote_id, **details):
    """Save the remote job on our job at once, so that a restart resumes it instead of
    paying for a second one; `submittedAt` (Unix time) keeps its deadline across restarts."""
    state = {"provider": provider_name, "id": remote_id, "submittedAt": time.time(), **details}
    context.save_remote_state(state)
    return state


def missing_settings(**values):
    """'TRYON_<NAME> is not set' for each empty value, named by its setting."""
    return [f"TRYON_{name} is not set" for name, value in values.items() if not value]


class PolledProvider(Provider):
    """A provider whose jobs are submitted once and then polled until they finish, resumed
    after a restart from the remote job saved on our job. Subclasses set `self.http` and
    `self.timeout` and write `_submit` (start the remote job, `remember_remote_job` it) and
    `_result_url` (its image URL once finished, None while it runs; raise if it failed)."""

    def generate(self, request, context):
        remote = saved_remote_job(context, self.name)
        deadline = job_deadline(context, self.http.timing, self.timeout, resumed=remote)
        remote = remote or self._submit(request, context, deadline)
        image_url = self.http.poll(lambda: self._result_url(remote, deadline), deadline=deadline)
        image = self.http.download(image_url, deadline=deadline)
        return GenerationResult(image=image, metadata={"remote": {
            "provider": self.name, "model": remote.get("model"), "id": remote["id"]}})

    @abstractmethod
    def _submit(self, request, context, deadline):
        """Start the remote job; return what remember_remote_job saved."""

    @abstractmethod
    def _result_url(self, remote, deadline):
        """The result image's URL once finished, None while running; raise if it failed."""

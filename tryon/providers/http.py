"""The `http` provider: our own small contract for a team's GPU box running an open model
(IDM-VTON, CatVTON, FASHN VTON 1.5, ...). docs/providers.md documents it for
whoever writes the server side.

    POST {TRYON_HTTP_PROVIDER_URL}/v1/tryon        start a job (Idempotency-Key: our job id)
    GET  {TRYON_HTTP_PROVIDER_URL}/v1/tryon/{id}   its state

Both answer {"id", "status": queued | running | completed | failed, "output": {"image_url"},
"error": {"code", "name", "message"}}. A server may also finish within the POST and answer
"completed" at once. Because every submission carries an Idempotency-Key, a submission whose
answer was lost can be sent again safely.
"""
from .. import errors
from .base import GenerationResult, Provider, ProviderError
from .remote import (
    InputLimits,
    RemoteHttp,
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


class HttpProvider(Provider):
    name = "http"

    def __init__(self, url, *, token=None, timeout=600, timing=None, policy=None):
        self.url = (url or "").rstrip("/")
        self.token = token
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = RemoteHttp("the model server", headers=headers,
                               describe_error=_describe_api_error, timing=timing, policy=policy)

    @classmethod
    def from_config(cls, config, **kwargs):
        return cls(config.get("HTTP_PROVIDER_URL"), token=config.get("HTTP_PROVIDER_TOKEN"),
                   timeout=config.get("PROVIDER_TIMEOUT", 600), **kwargs)

    def configuration_problems(self):
        problems = missing_settings(HTTP_PROVIDER_URL=self.url)
        if self.url and not self.url.startswith(("http://", "https://")):
            problems.append(f"TRYON_HTTP_PROVIDER_URL={self.url} is not an http(s) URL")
        return problems

    def generate(self, request, context):
        remote = saved_remote_job(context, self.name)
        deadline = job_deadline(context, self.http.timing, self.timeout, resumed=remote)
        answer = None
        if remote is None:
            answer = self._submit(request, deadline)
            remote = remember_remote_job(context, self.name, answer["id"])

        def check():
            nonlocal answer
            if answer is None:  # the POST's own answer counts as the first check
                answer = self.http.get_json(f"{self.url}/v1/tryon/{remote['id']}",
                                            deadline=deadline, step="poll")
            outcome, answer = _outcome(answer), None
            return outcome

        image_url = self.http.poll(check, deadline=deadline)
        # Our token goes only to the model server itself, never to a storage host it names.
        headers = dict(self.http.headers) if same_origin(image_url, self.url) else None
        image = self.http.download(image_url, deadline=deadline, headers=headers)
        return GenerationResult(image=image, metadata={
            "remote": {"provider": self.name, "id": remote["id"]}})

    def _submit(self, request, deadline):
        body = {
            "person_image": image_reference(request.person, LIMITS),
            "garment_image": image_reference(request.garment, LIMITS),
            "options": {name: value for name, value in request.options.items()
                        if name in ("category", "seed", "fast_mode", "garment_description")},
        }
        # The Idempotency-Key makes a resent submission safe, so it is retried like a poll.
        answer = self.http.post_json(f"{self.url}/v1/tryon", body, deadline=deadline,
                                     step="submit", headers={"Idempotency-Key": request.job_id})
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

"""The `fashn` provider: FASHN's hosted try-on API (v1).

Protocol (docs.fashn.ai): `POST {base}/v1/run` with a Bearer key and
{"model_name": ..., "inputs": {...}} answers {"id": ...}; `GET {base}/v1/status/{id}` answers
{"status": starting | in_queue | processing | completed | failed, "output": [url], "error":
{"name", "message"}}. A job that failed is an HTTP 200 with status "failed"; a refused
request is an HTTP error with {"error": <name>, "message": ...}.
"""
from .. import errors
from .base import ProviderError
from .remote import (
    InputLimits,
    PolledProvider,
    RemoteHttp,
    error_for_status,
    image_reference,
    json_or_empty,
    missing_settings,
    remember_remote_job,
)

DEFAULT_BASE_URL = "https://api.fashn.ai"
DEFAULT_MODEL = "tryon-v1.6"
# Oversized base64 payloads make FASHN answer 500; its docs advise at most 2000 px high.
LIMITS = InputLimits(max_width=2000, max_height=2000, max_inline_bytes=3 * 1024 * 1024)
RUNNING = ("starting", "in_queue", "processing")

# Runtime error names (GET /v1/status, status "failed") that are not about one input image.
RUNTIME_ERRORS = {
    "ContentModerationError": errors.SERVICE_SPECIFIC_ERROR,
    "InputValidationError": errors.SERVICE_SPECIFIC_ERROR,
    "PipelineError": errors.GENERATION_FAILED,
    "ThirdPartyError": errors.GENERATION_FAILED,
    "InternalServerError": errors.GENERATION_FAILED,
}


class FashnProvider(PolledProvider):
    name = "fashn"

    def __init__(self, api_key, *, base_url=DEFAULT_BASE_URL, model=DEFAULT_MODEL,
                 timeout=600, timing=None, policy=None):
        self.api_key = api_key
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.model = model or DEFAULT_MODEL
        self.timeout = timeout
        self.http = RemoteHttp("FASHN", headers={"Authorization": f"Bearer {api_key}"},
                               describe_error=_describe_api_error, is_retryable=_worth_waiting,
                               timing=timing, policy=policy)

    @classmethod
    def from_config(cls, config, **kwargs):
        return cls(config.get("FASHN_API_KEY"), base_url=config.get("FASHN_BASE_URL"),
                   model=config.get("FASHN_MODEL"), timeout=config.get("PROVIDER_TIMEOUT", 600),
                   **kwargs)

    def configuration_problems(self):
        return missing_settings(FASHN_API_KEY=self.api_key)

    def _submit(self, request, context, deadline):
        body = {"model_name": self.model, "inputs": self._inputs(request)}
        answer = self.http.post_json(f"{self.base_url}/v1/run", body, deadline=deadline,
                                     step="submit", creates_job=True)
        if not answer.get("id"):
            raise ProviderError(errors.GENERATION_FAILED, "FASHN accepted the job without an id.",
                                provider_message=str(answer.get("error"))[:300], step="submit")
        return remember_remote_job(context, self.name, answer["id"], model=self.model)

    def _inputs(self, request):
        options = request.options
        inputs = {
            "model_image": image_reference(request.person, LIMITS),
            "garment_image": image_reference(request.garment, LIMITS),
            "category": options.get("category", "auto"),  # our categories are FASHN's
            "mode": "performance" if options.get("fast_mode") else "balanced",
            "output_format": "png",
        }
        if options.get("seed") is not None:
            inputs["seed"] = options["seed"]
        return inputs

    def _result_url(self, remote, deadline):
        """The first output URL once completed, None while running; raises if it failed."""
        answer = self.http.get_json(f"{self.base_url}/v1/status/{remote['id']}",
                                    deadline=deadline, step="poll")
        status = answer.get("status")
        if status == "completed":
            output = answer.get("output")
            if not output or not isinstance(output, list):
                raise ProviderError(errors.GENERATION_FAILED,
                                    "FASHN completed the job without an output image.",
                                    step="poll")
            return output[0]
        if status == "failed":
            raise _runtime_error(answer.get("error") or {})
        if status in RUNNING or status is None:
            return None
        # canceled, time_out, or a status newer than this code: the job will not finish.
        raise ProviderError(errors.GENERATION_FAILED, f"FASHN ended the job as {status!r}.",
                            provider_error=str(status), step="poll")


def _runtime_error(error):
    name = str(error.get("name") or "UnknownError")
    message = str(error.get("message") or "")
    code = RUNTIME_ERRORS.get(name, errors.SERVICE_SPECIFIC_ERROR)
    if name in ("ImageLoadError", "PoseError"):
        # The message says which input: "Error loading model image: ..." / "garment image".
        code = _input_named_in(message) or (
            errors.INVALID_PERSON_IMAGE if name == "PoseError" else errors.SERVICE_SPECIFIC_ERROR)
    return ProviderError(code, f"FASHN could not generate the image ({name}): {message}",
                         provider_error=name, provider_message=message, step="generate")


def _input_named_in(message):
    text = message.lower()
    if "garment" in text:
        return errors.INVALID_GARMENT_IMAGE
    if "model image" in text or "person" in text or "model_image" in text:
        return errors.INVALID_PERSON_IMAGE
    return None


def _describe_api_error(response, step):
    body = json_or_empty(response)
    name, message = body.get("error"), body.get("message")
    if name == "OutOfCredits":
        return ProviderError(errors.CONSUMER_CONFIG_ERROR,
                             "The FASHN account has no API credits left.",
                             provider_error=name, provider_message=message, step=step)
    return error_for_status("FASHN", response.status_code, name, message, step)


def _worth_waiting(response):
    # A 429 for lack of credits does not clear by itself; rate and concurrency limits do.
    return json_or_empty(response).get("error") != "OutOfCredits"

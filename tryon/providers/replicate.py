"""The `replicate` provider: the IDM-VTON model on Replicate's predictions API.

Protocol (replicate.com/docs): `POST {base}/v1/predictions` with a Bearer token and
{"version": <64-hex id>, "input": {...}} answers a prediction {"id", "status", "urls":
{"get", "cancel"}, ...}; `GET urls.get` answers the same object until its status (starting,
processing) becomes succeeded (with "output"), failed (with "error", a plain string) or
canceled. Community models such as IDM-VTON must be run by version id.
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

DEFAULT_BASE_URL = "https://api.replicate.com"
# cuuupid/idm-vton, the version most public integrations pin (TRYON_REPLICATE_VERSION changes it).
DEFAULT_VERSION = "0513734a452173b8173e907e3a59d19a36266e55b48528559432bd21c7d7e985"
# Replicate takes data URLs only up to about 256 KB; base64 adds a third, so keep the JPEG
# under 190 KB. IDM-VTON works at 768x1024, so shrinking costs no quality it would use.
LIMITS = InputLimits(max_width=1536, max_height=2048, max_inline_bytes=190_000, quality=92)
CATEGORIES = {"auto": "upper_body", "tops": "upper_body", "bottoms": "lower_body",
              "one-pieces": "dresses"}
DEFAULT_DESCRIPTIONS = {"upper_body": "a top", "lower_body": "a pair of trousers or a skirt",
                        "dresses": "a dress"}
RUNNING = ("starting", "processing")
MODEL_ASPECT = 3 / 4   # IDM-VTON's 768x1024


class ReplicateProvider(PolledProvider):
    name = "replicate"

    def __init__(self, api_token, *, base_url=DEFAULT_BASE_URL, version=DEFAULT_VERSION,
                 timeout=600, timing=None, policy=None):
        self.api_token = api_token
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        # Accept "owner/model:version" as well as the bare version id the API expects.
        self.version = (version or DEFAULT_VERSION).rpartition(":")[2]
        self.timeout = timeout
        self.http = RemoteHttp("Replicate", headers={"Authorization": f"Bearer {api_token}"},
                               describe_error=_describe_api_error, timing=timing, policy=policy)

    @classmethod
    def from_config(cls, config, **kwargs):
        return cls(config.get("REPLICATE_API_TOKEN"), base_url=config.get("REPLICATE_BASE_URL"),
                   version=config.get("REPLICATE_VERSION"),
                   timeout=config.get("PROVIDER_TIMEOUT", 600), **kwargs)

    def configuration_problems(self):
        return missing_settings(REPLICATE_API_TOKEN=self.api_token)

    def _submit(self, request, context, deadline):
        body = {"version": self.version, "input": self._inputs(request)}
        answer = self.http.post_json(f"{self.base_url}/v1/predictions", body, deadline=deadline,
                                     step="submit", creates_job=True)
        if not answer.get("id"):
            raise ProviderError(errors.GENERATION_FAILED,
                                "Replicate accepted the prediction without an id.", step="submit")
        get_url = (answer.get("urls") or {}).get("get") or \
            f"{self.base_url}/v1/predictions/{answer['id']}"
        return remember_remote_job(context, self.name, answer["id"], model=self.version,
                                   getUrl=get_url)

    def _inputs(self, request):
        options = request.options
        category = CATEGORIES[options.get("category", "auto")]
        person = request.person
        inputs = {
            "human_img": image_reference(person, LIMITS),
            "garm_img": image_reference(request.garment, LIMITS),
            "garment_des": options.get("garment_description") or DEFAULT_DESCRIPTIONS[category],
            "category": category,
            # IDM-VTON stretches other shapes to 3:4; let it crop instead when they differ.
            "crop": abs(person.width / person.height - MODEL_ASPECT) > 0.05,
            "steps": 20 if options.get("fast_mode") else 30,
        }
        if options.get("seed") is not None:
            inputs["seed"] = options["seed"]
        return inputs

    def _result_url(self, remote, deadline):
        """The output URL once succeeded, None while running; raises if it failed."""
        answer = self.http.get_json(remote["getUrl"], deadline=deadline, step="poll")
        status = answer.get("status")
        if status == "succeeded":
            output = answer.get("output")
            return output[0] if isinstance(output, list) and output else output
        if status in RUNNING or status is None:
            return None
        raise _prediction_error(status, answer.get("error"))


def _prediction_error(status, message):
    """Replicate reports a failure as one string: the model's own exception text."""
    message = str(message or "")
    text = message.lower()
    if status != "failed":  # canceled on Replicate's side, or aborted
        code = errors.GENERATION_FAILED
    elif "nsfw" in text or "sensitive" in text or "flagged" in text:
        code = errors.SERVICE_SPECIFIC_ERROR
    elif "human_img" in text or "pose" in text or "person" in text:
        code = errors.INVALID_PERSON_IMAGE
    elif "garm_img" in text:
        code = errors.INVALID_GARMENT_IMAGE
    else:
        code = errors.GENERATION_FAILED
    summary = f"The Replicate prediction ended as {status}: {message}".rstrip(": ")
    return ProviderError(code, summary, provider_error=status, provider_message=message,
                         step="generate")


def _describe_api_error(response, step):
    body = json_or_empty(response)  # problem details: {"title", "detail", "status"}
    return error_for_status("Replicate", response.status_code, body.get("title"),
                            body.get("detail"), step)

"""The `fal` provider: try-on models on fal.ai's queue API.

Protocol (fal.ai/docs, model-endpoints/queue): `POST {base}/{model}` with
`Authorization: Key ...` and the model's input answers {"request_id", "status_url",
"response_url", "cancel_url"}. `GET status_url` answers {"status": IN_QUEUE | IN_PROGRESS |
COMPLETED} (HTTP 202 until done); then `GET response_url` gives the model's output, or its
error: {"detail": [{"loc", "msg", "type"}]} from the model (e.g. 422 content_policy_violation)
or {"detail": "...", "error_type": ...} from the platform. The status and response URLs leave
out the model's sub-path, so we use the ones fal returns rather than building them.
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

DEFAULT_BASE_URL = "https://queue.fal.run"
DEFAULT_MODEL = "fal-ai/kling/v1-5/kolors-virtual-try-on"
LIMITS = InputLimits(max_width=2048, max_height=2048, max_inline_bytes=4 * 1024 * 1024)
RUNNING = ("IN_QUEUE", "IN_PROGRESS")
POLICY_ERRORS = ("content_policy_violation",)

IDM_STYLE = {"auto": "upper_body", "tops": "upper_body", "bottoms": "lower_body",
             "one-pieces": "dresses"}
CATVTON_CLOTH = {"auto": "upper", "tops": "upper", "bottoms": "lower", "one-pieces": "overall"}


def _kolors_inputs(person, garment, options):
    # Kolors takes no category (it decides from the garment photo) and no speed setting;
    # it has no seed either, and a result the caller asked to be reproducible is not one.
    if options.get("seed") is not None:
        raise ProviderError(errors.VALIDATION_FAILED,
                            "The fal.ai Kolors model cannot take a seed: leave seed out, or "
                            "choose a model that takes one (TRYON_FAL_MODEL: Leffa, CatVTON, "
                            "FASHN).", step="validate_options")
    return {"human_image_url": person, "garment_image_url": garment}


def _category_model_inputs(category_field, categories):
    """Inputs of a model that takes a category under its own field name and values, and
    fewer inference steps in fast mode (Leffa, CatVTON)."""
    def build(person, garment, options):
        inputs = {"human_image_url": person, "garment_image_url": garment,
                  category_field: categories[options.get("category", "auto")]}
        if options.get("fast_mode"):
            inputs["num_inference_steps"] = 30
        return _with_seed(inputs, options)
    return build


_leffa_inputs = _category_model_inputs("garment_type", IDM_STYLE)
_catvton_inputs = _category_model_inputs("cloth_type", CATVTON_CLOTH)


def _fashn_inputs(person, garment, options):
    inputs = {"model_image": person, "garment_image": garment,
              "category": options.get("category", "auto"),
              "mode": "performance" if options.get("fast_mode") else "balanced",
              "output_format": "png"}
    return _with_seed(inputs, options)


def _with_seed(inputs, options):
    if options.get("seed") is not None:
        inputs["seed"] = options["seed"]
    return inputs


# Model id prefix -> (input builder, name of its person input, name of its garment input).
MODELS = {
    "fal-ai/kling/v1-5/kolors-virtual-try-on": (_kolors_inputs, "human_image_url",
                                                "garment_image_url"),
    "fal-ai/leffa/virtual-tryon": (_leffa_inputs, "human_image_url", "garment_image_url"),
    "fal-ai/cat-vton": (_catvton_inputs, "human_image_url", "garment_image_url"),
    "fal-ai/fashn/tryon": (_fashn_inputs, "model_image", "garment_image"),
}


def _model_spec(model):
    for prefix, spec in MODELS.items():
        if model == prefix or model.startswith(prefix + "/"):
            return spec
    return None


class FalProvider(PolledProvider):
    name = "fal"

    def __init__(self, key, *, base_url=DEFAULT_BASE_URL, model=DEFAULT_MODEL, timeout=600,
                 timing=None, policy=None):
        self.key = key
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.model = (model or DEFAULT_MODEL).strip("/")
        self.timeout = timeout
        self.http = RemoteHttp("fal.ai", headers={"Authorization": f"Key {key}"},
                               describe_error=self._describe_error, timing=timing, policy=policy)

    @classmethod
    def from_config(cls, config, **kwargs):
        return cls(config.get("FAL_KEY"), base_url=config.get("FAL_BASE_URL"),
                   model=config.get("FAL_MODEL"), timeout=config.get("PROVIDER_TIMEOUT", 600),
                   **kwargs)

    def configuration_problems(self):
        problems = missing_settings(FAL_KEY=self.key)
        if _model_spec(self.model) is None:
            problems.append(f"TRYON_FAL_MODEL={self.model} is not a try-on model we support "
                            f"(supported: {', '.join(MODELS)})")
        return problems

    def _submit(self, request, context, deadline):
        build_inputs, _, _ = _model_spec(self.model)
        body = build_inputs(image_reference(request.person, LIMITS),
                            image_reference(request.garment, LIMITS), request.options)
        answer = self.http.post_json(f"{self.base_url}/{self.model}", body, deadline=deadline,
                                     step="submit", creates_job=True)
        if not (answer.get("request_id") and answer.get("status_url")
                and answer.get("response_url")):
            raise ProviderError(errors.GENERATION_FAILED,
                                "fal.ai queued the request without its id or URLs.", step="submit")
        return remember_remote_job(context, self.name, answer["request_id"], model=self.model,
                                   statusUrl=answer["status_url"],
                                   responseUrl=answer["response_url"])

    def _result_url(self, remote, deadline):
        """The image URL once the request left the queue (its output, or its error, is then
        at the response URL), None while queued or running."""
        answer = self.http.get_json(remote["statusUrl"], deadline=deadline, step="poll")
        status = answer.get("status")
        if status == "COMPLETED":
            output = self.http.get_json(remote["responseUrl"], deadline=deadline,
                                        step="fetch_output")
            return _first_image_url(output) or ""  # "": finished, but with no image
        if status in RUNNING or status is None:
            return None
        raise ProviderError(errors.GENERATION_FAILED, f"fal.ai ended the request as {status!r}.",
                            provider_error=str(status), step="poll")

    def _describe_error(self, response, step):
        body = json_or_empty(response)
        detail = body.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return self._model_error(detail[0], response.status_code, step)
        error_type = body.get("error_type") or response.headers.get("X-Fal-Error-Type")
        message = detail if isinstance(detail, str) else response.text[:300]
        return error_for_status("fal.ai", response.status_code, error_type, message, step)

    def _model_error(self, error, status, step):
        """A model's own error: {"loc": ["body", <field>], "msg", "type"}."""
        error_type, message = str(error.get("type") or ""), str(error.get("msg") or "")
        location = error.get("loc") or []
        field = location[1] if len(location) > 1 else None
        _, person_field, garment_field = _model_spec(self.model) or (None, None, None)
        if error_type in POLICY_ERRORS:
            code = errors.SERVICE_SPECIFIC_ERROR
        elif field == person_field:
            code = errors.INVALID_PERSON_IMAGE
        elif field == garment_field:
            code = errors.INVALID_GARMENT_IMAGE
        elif status >= 500:
            code = errors.GENERATION_FAILED
        else:
            code = errors.SERVICE_SPECIFIC_ERROR
        return ProviderError(code, f"fal.ai could not generate the image ({error_type}): {message}",
                             provider_error=error_type or f"HTTP {status}",
                             provider_message=message, step="generate")


def _first_image_url(output):
    """The first image of an output: {"image": {"url"}} (Kolors, Leffa, CatVTON) or
    {"images": [{"url"}]} (FASHN on fal)."""
    image = output.get("image")
    if not image and isinstance(output.get("images"), list) and output["images"]:
        image = output["images"][0]
    return image.get("url") if isinstance(image, dict) else None

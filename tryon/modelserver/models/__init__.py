"""The models the server can run, by the name given to --model.

Importing this registry imports no torch or diffusers: each model module imports them only
when its model loads, so the server core (and its tests) can list and check models cheaply.
"""
import inspect

from .flux2_klein import Flux2Klein4BSpec
from .qwen_image_edit import QwenImageEditSpec
from .tiny_random import TinyRandomSpec

DEFAULT_MODEL = "flux2-klein-4b"

_SPEC_CLASSES = {
    spec.name: spec for spec in (Flux2Klein4BSpec, QwenImageEditSpec, TinyRandomSpec)
}
MODEL_NAMES = tuple(_SPEC_CLASSES)   # in the order the README lists them


def model_spec(name, **options):
    """A new ModelSpec for `name`; `options` go to that model (e.g. lightning_steps=8 for
    qwen-image-edit-2511). ValueError for an unknown name or an option it does not take."""
    try:
        spec_class = _SPEC_CLASSES[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}") from None
    unknown = set(options) - set(inspect.signature(spec_class).parameters)
    if unknown:
        raise ValueError(f"model {name!r} does not take the option(s) {', '.join(sorted(unknown))}")
    return spec_class(**options)

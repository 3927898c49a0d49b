"""What our instruction-editing models share: a diffusers pipeline that gets the person and
the garment as two reference pictures and a text instruction, a seed, and a pixel budget.

Each model module (flux2_klein, qwen_image_edit) subclasses EditingModel with its own
pipeline call; the pictures, the prompt, the seed and the memory probe are done here once.
"""
import math
import secrets
from abc import abstractmethod

from PIL import Image

from .. import devices  # the module, not its names: devices imports models.base
from .base import SIZE_MULTIPLE, GenerationError, LoadedModel, generation_size
from .prompts import tryon_prompt

# FLUX.2's pipeline refuses a picture with a side under 64 px or longer than 8 times its
# width: a small photo is scaled up to 64 (it costs nothing), a sliver is refused.
MIN_REFERENCE_SIDE = 64
MAX_ASPECT_RATIO = 8


class EditingModel(LoadedModel):
    """A placed diffusers editing pipeline; subclasses implement `run_pipeline`."""

    def __init__(self, spec, placement, pipeline):
        super().__init__(spec, placement)
        self.pipeline = pipeline
        # The server logs its own progress; the pipelines' tqdm bars would only add noise.
        pipeline.set_progress_bar_config(disable=True)

    def generate(self, tryon_input):
        prompt = prompt_for(tryon_input)
        max_pixels = self.max_pixels(tryon_input.fast_mode)
        person, garment = reference_pictures(tryon_input, max_pixels)
        picture = self.run_pipeline(
            prompt=prompt, person=person, garment=garment,
            generator=self.generator(tryon_input.seed), fast_mode=tryon_input.fast_mode,
        )
        return picture.convert("RGB")

    @abstractmethod
    def max_pixels(self, fast_mode):
        """The most pixels to generate (and to give each reference picture) for a job."""

    @abstractmethod
    def run_pipeline(self, *, prompt, person, garment, generator, fast_mode):
        """One pipeline call: the picture at the person reference's size."""

    def generator(self, seed):
        """A torch.Generator on the placement's device, seeded with the job's seed, or with
        a fresh random one when the job gave none (so no job depends on the one before)."""
        import torch

        if seed is None:
            seed = secrets.randbits(32)
        return torch.Generator(self.placement.device).manual_seed(seed)

    def memory_bytes(self):
        return devices.pipeline_memory_bytes(self.pipeline, self.placement)


def prompt_for(tryon_input):
    """The job's instruction; a category we do not know is the caller's mistake."""
    try:
        return tryon_prompt(tryon_input.category, tryon_input.garment_description)
    except ValueError as exc:
        raise GenerationError("VALIDATION_FAILED", str(exc), name="InvalidCategory") from exc


def reference_pictures(tryon_input, max_pixels):
    """The person scaled to the generation size (so the output grid matches its pixels: the
    pipelines otherwise crop it to their own multiple) and the garment scaled to fit the same
    pixel budget with its own aspect ratio."""
    person = tryon_input.person.convert("RGB")
    garment = tryon_input.garment.convert("RGB")
    return (resized(person, reference_size(person.size, max_pixels, "INVALID_PERSON_IMAGE")),
            resized(garment, reference_size(garment.size, max_pixels, "INVALID_GARMENT_IMAGE")))


def reference_size(size, max_pixels, error_code):
    """generation_size(), but at least MIN_REFERENCE_SIDE a side; GenerationError with
    `error_code` for a picture too narrow for the pipelines."""
    width, height = size
    if max(width / height, height / width) > MAX_ASPECT_RATIO:
        raise GenerationError(error_code, f"a {width}x{height} picture is too narrow: at most "
                              f"{MAX_ASPECT_RATIO} times as long as it is wide",
                              name="AspectRatioError")
    width, height = generation_size(width, height, max_pixels=max_pixels)
    shorter = min(width, height)
    if shorter < MIN_REFERENCE_SIDE:
        scale = MIN_REFERENCE_SIDE / shorter
        width, height = _multiple_above(width * scale), _multiple_above(height * scale)
    return width, height


def _multiple_above(length):
    return math.ceil(round(length, 6) / SIZE_MULTIPLE) * SIZE_MULTIPLE


def resized(picture, size):
    if picture.size == size:
        return picture
    return picture.resize(size, Image.Resampling.LANCZOS)

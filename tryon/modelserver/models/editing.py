"""What our instruction-editing models share: a diffusers pipeline that gets the person and
the garment as two reference pictures and a text instruction, a seed, and a pixel budget.

Each model module (flux2_klein, qwen_image_edit) subclasses EditingModel with its own
pipeline call; the pictures, the prompt, the seed and the memory probe are done here once.
"""
import secrets
from abc import abstractmethod

from PIL import Image

from ..devices import pipeline_memory_bytes
from .base import GenerationError, LoadedModel, generation_size
from .prompts import tryon_prompt


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
        return pipeline_memory_bytes(self.pipeline, self.placement)


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
    return (resized(person, generation_size(*person.size, max_pixels=max_pixels)),
            resized(garment, generation_size(*garment.size, max_pixels=max_pixels)))


def resized(picture, size):
    if picture.size == size:
        return picture
    return picture.resize(size, Image.Resampling.LANCZOS)

"""`flux2-klein-4b`, the default model: FLUX.2 [klein] 4B from Black Forest Labs through
`diffusers.Flux2KleinPipeline`, with the person and the garment as two reference pictures.

Why this one: its weights are Apache-2.0 (commercial use allowed; the 9B klein is not), it is
step-distilled to 4 steps, and it fits a 24 GB GPU whole (a 16 GB one with model offload).
The same LoadedModel runs the `tiny-random` model, which is this pipeline with tiny weights.
"""
from pathlib import Path

from .. import devices
from .base import MAX_GENERATION_PIXELS, ModelSpec
from .editing import EditingModel

GIB = 1024**3

# The files of a diffusers folder this pipeline loads; the repository also holds a
# single-file checkpoint for other tools, which we do not download.
DIFFUSERS_FOLDER_PATTERNS = (
    "model_index.json",
    "scheduler/*",
    "text_encoder/*",
    "tokenizer/*",
    "transformer/*",
    "vae/*",
)

# The model card's sampler for the distilled model: 4 steps; guidance 1.0, because the
# distilled pipeline has no classifier-free guidance (it ignores anything above 1).
DISTILLED_STEPS = 4
DISTILLED_GUIDANCE = 1.0

# fast_mode halves the pixels rather than the steps. The model was distilled for exactly 4
# steps and falls apart below that, while the transformer's cost grows faster than linearly
# with the number of tokens (output plus two references), so half the pixels at 4 steps
# saves more than half the time and keeps the picture clean; the caller scales it up.
FAST_MAX_PIXELS = MAX_GENERATION_PIXELS // 2


class Flux2KleinModel(EditingModel):
    """A Flux2KleinPipeline placed on its device."""

    def max_pixels(self, fast_mode):
        return FAST_MAX_PIXELS if fast_mode else MAX_GENERATION_PIXELS

    def run_pipeline(self, *, prompt, person, garment, generator, fast_mode):
        width, height = person.size
        result = self.pipeline(
            image=[person, garment],
            prompt=prompt,
            width=width,
            height=height,
            num_inference_steps=DISTILLED_STEPS,
            guidance_scale=DISTILLED_GUIDANCE,
            generator=generator,
        )
        return result.images[0]


def load_flux2_klein_pipeline(weights_dir, placement):
    """A Flux2KleinPipeline from a diffusers folder on disk, in the placement's dtype and on
    its device. Nothing is fetched: the weights helper has downloaded the folder already."""
    from diffusers import Flux2KleinPipeline

    pipeline = Flux2KleinPipeline.from_pretrained(
        Path(weights_dir), dtype=devices.torch_dtype(placement), local_files_only=True,
    )
    return devices.apply_placement(pipeline, placement)


class Flux2Klein4BSpec(ModelSpec):
    name = "flux2-klein-4b"
    repo_id = "black-forest-labs/FLUX.2-klein-4B"
    revision = "e7b7dc27f91deacad38e78976d1f2b499d76a294"
    allow_patterns = DIFFUSERS_FOLDER_PATTERNS
    licence = "Apache-2.0"
    commercial_use = True
    # Black Forest Labs quote about 13 GB of VRAM; the bf16 files (4B transformer plus the
    # Qwen3-4B text encoder and the VAE) come to about 15 GB, which is what stays resident.
    full_gpu_bytes = 15 * GIB

    def load(self, weights_dir, placement, extra_dirs=None):
        if weights_dir is None:
            raise ValueError(f"{self.name} loads from a downloaded folder; none was given")
        return Flux2KleinModel(self, placement, load_flux2_klein_pipeline(weights_dir, placement))

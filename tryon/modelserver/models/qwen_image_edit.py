"""`qwen-image-edit-2511`: Qwen-Image-Edit-2511 (Apache-2.0) through
`diffusers.QwenImageEditPlusPipeline`, the person and the garment as two reference pictures.

A 20B transformer with a 7B vision-language text encoder: for GPUs of 48 GB and more (with
model offload on 48 GB, whole on 80 GB). It runs the model card's 40 steps with true
classifier-free guidance, or, with `lightning_steps` 4 or 8, lightx2v's Lightning LoRA
(Apache-2.0) for that many steps without guidance: a second repository, listed in the spec's
`extra_downloads` so that the weights helper fetches it with the model.
"""
import importlib.util
from pathlib import Path

from .. import devices
from .base import MAX_GENERATION_PIXELS, ExtraDownload, ModelSpec
from .editing import EditingModel

GIB = 1024**3

QWEN_FOLDER_PATTERNS = (
    "model_index.json",
    "processor/*",
    "scheduler/*",
    "text_encoder/*",
    "tokenizer/*",
    "transformer/*",
    "vae/*",
)

# The model card's sampler: 40 steps, true CFG 4.0 against a blank negative prompt.
CARD_STEPS = 40
CARD_TRUE_CFG = 4.0
NEGATIVE_PROMPT = " "
# Without the LoRA the model is not distilled and degrades gently with fewer steps, so
# fast_mode halves them and keeps the full size.
FAST_STEPS = 20

LIGHTNING_REPO = "lightx2v/Qwen-Image-Edit-2511-Lightning"
LIGHTNING_REVISION = "d74eba145674fd7e31b949324e148e21e7118abd"
LIGHTNING_WEIGHTS = {
    4: "Qwen-Image-Edit-2511-Lightning-4steps-V1.0-bf16.safetensors",
    8: "Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors",
}
# The LoRA was distilled with a fixed flow shift of 3 and runs without guidance.
LIGHTNING_TRUE_CFG = 1.0
LIGHTNING_SCHEDULER = {
    "base_image_seq_len": 256,
    "base_shift": 1.0986122886681098,   # ln 3
    "max_image_seq_len": 8192,
    "max_shift": 1.0986122886681098,    # ln 3
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "shift_terminal": None,
    "time_shift_type": "exponential",
    "use_dynamic_shifting": True,
}
# With the LoRA the step count is fixed by its distillation, so fast_mode halves the pixels
# (as for FLUX.2 [klein]) instead.
LIGHTNING_FAST_MAX_PIXELS = MAX_GENERATION_PIXELS // 2


class QwenImageEditModel(EditingModel):
    """A QwenImageEditPlusPipeline placed on its device, with or without Lightning."""

    def __init__(self, spec, placement, pipeline, lightning_steps=None):
        super().__init__(spec, placement, pipeline)
        self.lightning_steps = lightning_steps

    def max_pixels(self, fast_mode):
        if fast_mode and self.lightning_steps:
            return LIGHTNING_FAST_MAX_PIXELS
        return MAX_GENERATION_PIXELS

    def steps(self, fast_mode):
        if self.lightning_steps:
            return self.lightning_steps
        return FAST_STEPS if fast_mode else CARD_STEPS

    def run_pipeline(self, *, prompt, person, garment, generator, fast_mode):
        width, height = person.size
        result = self.pipeline(
            image=[person, garment],
            prompt=prompt,
            negative_prompt=NEGATIVE_PROMPT,
            true_cfg_scale=LIGHTNING_TRUE_CFG if self.lightning_steps else CARD_TRUE_CFG,
            width=width,
            height=height,
            num_inference_steps=self.steps(fast_mode),
            generator=generator,
        )
        return result.images[0]


def lightning_download(steps):
    """The Lightning LoRA repository, limited to the one weight file for `steps`."""
    return ExtraDownload(name="lightning", repo_id=LIGHTNING_REPO, revision=LIGHTNING_REVISION,
                         allow_patterns=(LIGHTNING_WEIGHTS[steps],))


def image_only_processor(image_processor, tokenizer):
    """The pipeline's Qwen2VLProcessor without a video processor.

    Why: transformers 5.24 checks every processor part against its base class, and the video
    processor's base class exists only when torchvision is installed, so Qwen2VLProcessor
    (even its from_pretrained) cannot be built without torchvision, and torchvision from PyPI
    does not import beside the CPU build of torch our CI uses. The pipeline passes pictures
    only, never videos; a subclass whose constructor names no video processor is checked for
    the image processor and the tokenizer alone and otherwise is Qwen2VLProcessor."""
    from transformers import Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template,
                             **kwargs)

    return ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer)


def load_processor(processor_dir):
    """The processor from the model's processor/ folder (its image processor's settings and
    its tokenizer), with the PIL image processor, which needs no torchvision either."""
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return image_only_processor(Qwen2VLImageProcessorPil.from_pretrained(processor_dir),
                                AutoTokenizer.from_pretrained(processor_dir))


def load_qwen_pipeline(weights_dir, placement, lightning_dir=None, lightning_steps=None):
    """A QwenImageEditPlusPipeline from its downloaded folder, the Lightning LoRA fused in
    when asked for, in the placement's dtype and on its device. The processor is built here
    and handed in (see image_only_processor)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, QwenImageEditPlusPipeline

    weights_dir = Path(weights_dir)
    pipeline = QwenImageEditPlusPipeline.from_pretrained(
        weights_dir, dtype=devices.torch_dtype(placement), local_files_only=True,
        processor=load_processor(weights_dir / "processor"),
    )
    if lightning_steps:
        pipeline.scheduler = FlowMatchEulerDiscreteScheduler.from_config(LIGHTNING_SCHEDULER)
        pipeline.load_lora_weights(
            str(lightning_dir), weight_name=LIGHTNING_WEIGHTS[lightning_steps])
        # Fused into the transformer's weights, the LoRA costs nothing per step.
        pipeline.fuse_lora()
    return devices.apply_placement(pipeline, placement)


class QwenImageEditSpec(ModelSpec):
    name = "qwen-image-edit-2511"
    repo_id = "Qwen/Qwen-Image-Edit-2511"
    revision = "6f3ccc0b56e431dc6a0c2b2039706d7d26f22cb9"
    allow_patterns = QWEN_FOLDER_PATTERNS
    licence = "Apache-2.0"
    commercial_use = True
    # bf16: about 41 GB of transformer, 16.6 GB of text encoder, 0.25 GB of VAE; those who
    # run it quote 57-60 GB resident at 1 MP. 48 GB cards therefore use model offload.
    full_gpu_bytes = 60 * GIB

    def __init__(self, lightning_steps=None):
        if lightning_steps not in (None, 0, *LIGHTNING_WEIGHTS):
            raise ValueError(f"lightning_steps must be 4 or 8 (or none), not {lightning_steps!r}")
        self.lightning_steps = lightning_steps or None
        self.extra_downloads = (
            (lightning_download(self.lightning_steps),) if self.lightning_steps else ())

    def load(self, weights_dir, placement, extra_dirs=None):
        if weights_dir is None:
            raise ValueError(f"{self.name} loads from a downloaded folder; none was given")
        lightning_dir = None
        if self.lightning_steps:
            lightning_dir = (extra_dirs or {}).get("lightning")
            if lightning_dir is None:
                raise ValueError("the Lightning LoRA was asked for, but its folder was not "
                                 "given (extra_dirs['lightning'])")
            if importlib.util.find_spec("peft") is None:
                raise ValueError("the Lightning LoRA needs the peft package: "
                                 "pip install peft (see requirements-modelserver.txt)")
        pipeline = load_qwen_pipeline(weights_dir, placement, lightning_dir, self.lightning_steps)
        return QwenImageEditModel(self, placement, pipeline, self.lightning_steps)

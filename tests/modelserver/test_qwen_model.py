"""`qwen-image-edit-2511` on the CPU with tiny random weights: the real
QwenImageEditPlusPipeline saved into a diffusers folder and loaded by the module's own loader,
with and without a (tiny, random) Lightning LoRA. Nothing here has seen the real weights: these
tests show that the module's calls fit the pipeline, not what the pictures look like.

The tiny pipeline's VAE downscales 16x (see tiny_random), so its sizes are multiples of 32:
the person photos here are chosen so that their generation sizes are.
"""
import numpy as np
import pytest
import torch

from tests.modelserver.helpers import count_steps, photo, pixels
from tryon.modelserver.models import model_spec
from tryon.modelserver.models.base import Placement, TryOnInput, generation_size
from tryon.modelserver.models.prompts import tryon_prompt
from tryon.modelserver.models.qwen_image_edit import (
    CARD_STEPS,
    FAST_STEPS,
    LIGHTNING_SCHEDULER,
    LIGHTNING_WEIGHTS,
    NEGATIVE_PROMPT,
)
from tryon.modelserver.models.tiny_random import build_tiny_qwen_image_edit_pipeline

CPU = Placement(device="cpu", dtype="float32", offload="none")
LORA_RANK = 4
# The transformer's attention projections, for the picture stream and the text stream.
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj"]


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """The tiny pipeline saved as a diffusers folder, as a download would leave it."""
    folder = tmp_path_factory.mktemp("qwen-tiny")
    build_tiny_qwen_image_edit_pipeline().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def qwen_model(weights_dir):
    return model_spec("qwen-image-edit-2511").load(weights_dir, CPU)


@pytest.fixture(scope="module")
def lightning_dir(tmp_path_factory):
    """A LoRA for the tiny transformer with random non-zero weights, saved the way the
    pipeline class saves LoRAs, under the file name the module expects for 4 steps."""
    from diffusers import QwenImageEditPlusPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    folder = tmp_path_factory.mktemp("qwen-lightning")
    transformer = build_tiny_qwen_image_edit_pipeline().transformer
    # init_lora_weights=False: both LoRA matrices random, so the LoRA changes the weights.
    transformer.add_adapter(LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK,
                                       target_modules=LORA_TARGETS, init_lora_weights=False))
    QwenImageEditPlusPipeline.save_lora_weights(
        folder, transformer_lora_layers=get_peft_model_state_dict(transformer),
        weight_name=LIGHTNING_WEIGHTS[4])
    return folder


@pytest.fixture(scope="module")
def lightning_model(weights_dir, lightning_dir):
    spec = model_spec("qwen-image-edit-2511", lightning_steps=4)
    return spec.load(weights_dir, CPU, extra_dirs={"lightning": lightning_dir})


def tryon(width=128, height=128, **options):
    return TryOnInput(person=photo(width, height, 1), garment=photo(96, 128, 2), **options)


def record_prompts(model, monkeypatch):
    """The prompts the pipeline encodes, in order (the negative one only with true CFG)."""
    prompts = []
    pipeline = model.pipeline
    real_encode = pipeline.encode_prompt

    def recording_encode(*args, **kwargs):
        prompts.append(kwargs["prompt"])
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(pipeline, "encode_prompt", recording_encode)
    return prompts


def transformer_weight(pipeline):
    """The first block's picture query weights (with a LoRA loaded: the layer under it)."""
    layer = pipeline.transformer.transformer_blocks[0].attn.to_q
    return getattr(layer, "base_layer", layer).weight.detach().clone()


# --- the model card's sampler ---------------------------------------------------------

@pytest.mark.slow
def test_the_output_is_the_generation_size_of_the_person(qwen_model):
    for width, height in ((192, 320), (320, 192)):   # portrait and landscape
        out = qwen_model.generate(tryon(width, height, seed=1))
        assert out.mode == "RGB"
        assert out.size == generation_size(width, height) == (width, height)


@pytest.mark.slow
def test_the_category_prompt_reaches_the_pipeline_with_true_cfg(qwen_model, monkeypatch):
    prompts = record_prompts(qwen_model, monkeypatch)
    qwen_model.generate(tryon(category="bottoms", garment_description="blue denim jeans",
                              seed=1, fast_mode=True))
    # The job's instruction, then the blank negative prompt that true CFG runs against.
    assert prompts == [tryon_prompt("bottoms", "blue denim jeans"), NEGATIVE_PROMPT]


@pytest.mark.slow
def test_fast_mode_halves_the_steps(qwen_model, monkeypatch):
    steps = count_steps(qwen_model, monkeypatch)
    full = qwen_model.generate(tryon(seed=1))
    full_steps, steps[:] = len(steps), []
    fast = qwen_model.generate(tryon(seed=1, fast_mode=True))
    assert (full_steps, len(steps)) == (CARD_STEPS, FAST_STEPS) == (40, 20)
    assert fast.size == full.size == (128, 128)   # fewer steps, not fewer pixels


@pytest.mark.slow
def test_the_same_seed_gives_the_same_picture(qwen_model):
    first = qwen_model.generate(tryon(seed=7, fast_mode=True))
    again = qwen_model.generate(tryon(seed=7, fast_mode=True))
    other = qwen_model.generate(tryon(seed=8, fast_mode=True))
    assert np.array_equal(pixels(first), pixels(again))
    # The tiny random VAE smooths the starting noise away almost entirely, so another seed
    # moves the picture only slightly; it must move it.
    assert not np.array_equal(pixels(first), pixels(other))


# --- Lightning ------------------------------------------------------------------------

@pytest.mark.slow
def test_lightning_fuses_its_lora_into_the_transformer(weights_dir, lightning_model):
    untouched = transformer_weight(build_tiny_qwen_image_edit_pipeline())
    fused = transformer_weight(lightning_model.pipeline)
    assert torch.equal(untouched, transformer_weight(
        model_spec("qwen-image-edit-2511").load(weights_dir, CPU).pipeline))
    assert not torch.allclose(fused, untouched)


@pytest.mark.slow
def test_lightning_runs_its_scheduler_four_steps_without_cfg(lightning_model, monkeypatch):
    config = lightning_model.pipeline.scheduler.config
    for key, value in LIGHTNING_SCHEDULER.items():
        assert config[key] == value, key
    steps = count_steps(lightning_model, monkeypatch)
    prompts = record_prompts(lightning_model, monkeypatch)
    out = lightning_model.generate(tryon(192, 320, category="tops", seed=1))
    assert len(steps) == 4
    assert prompts == [tryon_prompt("tops")]   # CFG 1.0: no negative prompt is encoded
    assert out.size == (192, 320)


@pytest.mark.slow
def test_lightning_fast_mode_keeps_four_steps_and_halves_the_pixels(lightning_model,
                                                                    monkeypatch):
    steps = count_steps(lightning_model, monkeypatch)
    out = lightning_model.generate(tryon(1024, 1024, seed=1, fast_mode=True))
    assert len(steps) == 4
    assert out.width * out.height <= 1024 * 1024 // 2

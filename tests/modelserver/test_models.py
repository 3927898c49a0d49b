"""The model modules on the CPU: the registry, the try-on prompts, the real FLUX.2 [klein]
pipeline with tiny random weights (sizes, seeds, fast mode, prompts, loading a saved folder),
and the device helpers with torch's CUDA functions faked (this machine has no GPU).
"""
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.modelserver.helpers import count_steps, photo, pixels
from tryon.modelserver import devices
from tryon.modelserver.models import DEFAULT_MODEL, MODEL_NAMES, model_spec
from tryon.modelserver.models.base import (
    MAX_GENERATION_PIXELS,
    FailureKind,
    GenerationError,
    Placement,
    TryOnInput,
)
from tryon.modelserver.models.prompts import CATEGORIES, GARMENT_REGIONS, tryon_prompt
from tryon.modelserver.models.tiny_random import build_tiny_flux2_klein_pipeline

CPU = Placement(device="cpu", dtype="float32", offload="none")
GIB = 1024**3


@pytest.fixture(scope="module")
def tiny_model():
    """One tiny-random model for the module: building it is cheap, importing torch is not."""
    return model_spec("tiny-random").load(None, CPU)


def tryon(width=64, height=64, **options):
    return TryOnInput(person=photo(width, height, 1), garment=photo(48, 64, 2), **options)


# --- the registry ---------------------------------------------------------------------

def test_the_default_model_is_listed_first():
    assert MODEL_NAMES[0] == DEFAULT_MODEL == "flux2-klein-4b"
    assert set(MODEL_NAMES) == {"flux2-klein-4b", "qwen-image-edit-2511", "tiny-random"}


def test_each_name_gives_its_spec():
    for name in MODEL_NAMES:
        assert model_spec(name).name == name


def test_an_unknown_model_names_the_choices():
    with pytest.raises(ValueError) as raised:
        model_spec("flux2-klein-9b")
    assert "flux2-klein-9b" in str(raised.value)
    for name in MODEL_NAMES:
        assert name in str(raised.value)


def test_an_option_a_model_does_not_take_is_refused():
    with pytest.raises(ValueError, match="lightning_steps"):
        model_spec("flux2-klein-4b", lightning_steps=4)


def test_real_models_pin_a_commit_and_only_diffusers_folders():
    for name in ("flux2-klein-4b", "qwen-image-edit-2511"):
        spec = model_spec(name)
        assert len(spec.revision) == 40 and int(spec.revision, 16) >= 0
        assert "model_index.json" in spec.allow_patterns
        assert spec.commercial_use and spec.licence == "Apache-2.0"
    assert model_spec("tiny-random").repo_id is None and model_spec("tiny-random").noise


def test_lightning_adds_its_lora_repository_to_the_downloads():
    assert model_spec("qwen-image-edit-2511").extra_downloads == ()
    (lora,) = model_spec("qwen-image-edit-2511", lightning_steps=8).extra_downloads
    assert lora.name == "lightning"
    assert lora.repo_id == "lightx2v/Qwen-Image-Edit-2511-Lightning"
    assert lora.allow_patterns == ("Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors",)
    with pytest.raises(ValueError, match="4 or 8"):
        model_spec("qwen-image-edit-2511", lightning_steps=6)


def test_lightning_without_its_folder_is_a_clear_error():
    spec = model_spec("qwen-image-edit-2511", lightning_steps=4)
    with pytest.raises(ValueError, match="extra_dirs"):
        spec.load("/nonexistent", CPU, extra_dirs={})


@pytest.mark.slow
def test_importing_the_registry_imports_no_torch():
    code = ("import sys; import tryon.modelserver.models, tryon.modelserver.devices; "
            "print(sorted({'torch', 'diffusers', 'transformers'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "[]"


# --- prompts --------------------------------------------------------------------------

def test_each_category_names_its_region_and_keeps_the_person():
    prompts = {category: tryon_prompt(category) for category in CATEGORIES}
    assert len(set(prompts.values())) == len(CATEGORIES)
    for category, prompt in prompts.items():
        assert GARMENT_REGIONS[category] in prompt
        assert "image 1" in prompt and "image 2" in prompt
        for kept in ("face", "pose", "body", "background"):
            assert kept in prompt


def test_the_description_is_folded_in_on_one_line():
    prompt = tryon_prompt("tops", "  red wool\n  turtleneck.  ")
    assert "(red wool turtleneck)" in prompt
    assert "\n" not in prompt
    assert tryon_prompt("tops", "   ") == tryon_prompt("tops", None) == tryon_prompt("tops")


def test_a_long_description_is_cut():
    prompt = tryon_prompt("tops", "stripes " * 200)
    assert len(prompt) < len(tryon_prompt("tops")) + 320


def test_an_unknown_category_is_refused():
    with pytest.raises(ValueError, match="one-pieces"):
        tryon_prompt("hats")


# --- the tiny pipeline ----------------------------------------------------------------

def test_the_output_follows_the_person_aspect(tiny_model):
    for width, height in ((96, 160), (160, 96), (100, 75)):
        out = tiny_model.generate(tryon(width, height, seed=1))
        assert out.mode == "RGB"
        assert out.width % 16 == 0 and out.height % 16 == 0
        assert abs(out.width / out.height - width / height) < 0.2
    assert tiny_model.generate(tryon(96, 160, seed=1)).size == (96, 160)


def test_a_small_photo_is_scaled_up_to_what_the_pipeline_takes(tiny_model):
    small = TryOnInput(person=photo(40, 60, 1), garment=photo(30, 20, 2), seed=1)
    assert tiny_model.generate(small).size == (64, 96)


def test_a_sliver_of_a_photo_is_refused_as_that_photo(tiny_model):
    sliver = TryOnInput(person=photo(64, 64, 1), garment=photo(900, 100, 2), seed=1)
    with pytest.raises(GenerationError) as raised:
        tiny_model.generate(sliver)
    assert raised.value.code == "INVALID_GARMENT_IMAGE"


@pytest.mark.slow
def test_a_big_photo_is_capped_at_one_megapixel(tiny_model):
    out = tiny_model.generate(tryon(1600, 2000, seed=1))
    assert out.width * out.height <= MAX_GENERATION_PIXELS
    assert out.size == (912, 1136)   # 4:5, each side a multiple of 16


def test_the_same_seed_gives_the_same_picture(tiny_model):
    first = tiny_model.generate(tryon(seed=7))
    again = tiny_model.generate(tryon(seed=7))
    other = tiny_model.generate(tryon(seed=8))
    assert np.array_equal(pixels(first), pixels(again))
    assert np.abs(pixels(first) - pixels(other)).mean() > 1


def test_no_seed_gives_a_new_picture_each_time(tiny_model):
    first = tiny_model.generate(tryon())
    second = tiny_model.generate(tryon())
    assert np.abs(pixels(first) - pixels(second)).mean() > 1


def test_the_picture_depends_on_the_garment(tiny_model):
    one = tiny_model.generate(tryon(seed=3))
    other_garment = TryOnInput(person=photo(64, 64, 1), garment=photo(48, 64, 9), seed=3)
    # Random weights let the garment change the picture only a little, but change it.
    assert not np.array_equal(pixels(one), pixels(tiny_model.generate(other_garment)))


def test_fast_mode_generates_fewer_pixels_at_the_same_four_steps(tiny_model, monkeypatch):
    steps = count_steps(tiny_model, monkeypatch)
    full = tiny_model.generate(tryon(768, 768, seed=1))
    full_steps, steps[:] = len(steps), []
    fast = tiny_model.generate(tryon(768, 768, seed=1, fast_mode=True))
    assert full.size == (768, 768)
    assert fast.size == (720, 720)   # at most half a megapixel
    assert full_steps == len(steps) == 4


def test_the_category_prompt_reaches_the_text_encoder(tiny_model, monkeypatch):
    seen = []
    tokenizer = tiny_model.pipeline.tokenizer
    real_template = tokenizer.apply_chat_template

    def recording_template(messages, **kwargs):
        seen.append(messages)
        return real_template(messages, **kwargs)

    monkeypatch.setattr(tokenizer, "apply_chat_template", recording_template)
    tiny_model.generate(tryon(category="bottoms", garment_description="blue denim jeans", seed=1))
    assert seen == [[{"role": "user", "content": tryon_prompt("bottoms", "blue denim jeans")}]]


def test_an_unknown_category_fails_the_job_as_invalid(tiny_model):
    with pytest.raises(GenerationError) as raised:
        tiny_model.generate(tryon(category="hats"))
    assert raised.value.code == "VALIDATION_FAILED"


def test_warm_up_and_memory_on_the_cpu(tiny_model):
    tiny_model.warm_up()
    modules = [c for c in tiny_model.pipeline.components.values()
               if isinstance(c, torch.nn.Module)]
    weights = sum(p.numel() * 4 for m in modules for p in m.parameters())
    assert weights <= tiny_model.memory_bytes() < 10 * 1024**2


def test_builds_have_the_same_weights_whatever_the_random_state():
    first = build_tiny_flux2_klein_pipeline()
    torch.rand(5)   # move the global random state on: the weights must not depend on it
    second = build_tiny_flux2_klein_pipeline()
    for a, b in zip(first.transformer.parameters(), second.transformer.parameters(), strict=True):
        assert torch.equal(a, b)


def test_building_leaves_the_callers_random_state_alone():
    torch.rand(7)   # a state no build leaves behind
    state = torch.random.get_rng_state()
    build_tiny_flux2_klein_pipeline()
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_saved_folder_loads_as_flux2_klein_4b(tiny_model, tmp_path):
    build_tiny_flux2_klein_pipeline().save_pretrained(tmp_path)
    loaded = model_spec("flux2-klein-4b").load(tmp_path, CPU)
    assert loaded.spec.name == "flux2-klein-4b"
    out = loaded.generate(tryon(96, 160, seed=5))
    assert out.size == (96, 160)
    assert np.array_equal(pixels(out), pixels(tiny_model.generate(tryon(96, 160, seed=5))))


# --- devices --------------------------------------------------------------------------

class NeedsMemory:
    """A spec stand-in: choose_placement reads its full_gpu_bytes (and names it)."""
    name = "a-real-model"
    full_gpu_bytes = 15 * GIB


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def gpu_with_free(monkeypatch):
    """A fake GPU; set free_bytes[0] to the free memory it reports, asked_for shows for which
    GPU number mem_get_info was called."""
    free_bytes, asked_for = [0], []

    def mem_get_info(index=None):
        asked_for.append(index)
        return free_bytes[0], 80 * GIB

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    return free_bytes, asked_for


class NeedsNoGpu:
    name = "tiny"
    full_gpu_bytes = 0    # tiny-random


def test_no_gpu_means_the_cpu_in_float32(no_cuda):
    assert devices.choose_placement(NeedsNoGpu()) == CPU
    assert devices.choose_placement(NeedsMemory(), device="cpu") == CPU
    assert devices.choose_placement(NeedsMemory(), device="cpu", offload="none") == CPU


def test_auto_never_puts_a_real_model_on_the_cpu(no_cuda):
    with pytest.raises(ValueError, match="no CUDA GPU.*--device cpu.*tiny-random"):
        devices.choose_placement(NeedsMemory())


def test_asking_for_cuda_without_one_is_a_clear_error(no_cuda):
    for device in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match="no CUDA"):
            devices.choose_placement(NeedsMemory(), device=device)


def test_offload_on_the_cpu_and_unknown_choices_are_refused(no_cuda):
    with pytest.raises(ValueError, match="offload"):
        devices.choose_placement(NeedsMemory(), device="cpu", offload="model")
    with pytest.raises(ValueError, match="offload"):
        devices.choose_placement(NeedsMemory(), offload="sequential")
    with pytest.raises(ValueError, match="device"):
        devices.choose_placement(NeedsMemory(), device="tpu")


def test_a_gpu_that_holds_the_model_runs_it_whole(gpu_with_free):
    free_bytes, _ = gpu_with_free
    free_bytes[0] = 23 * GIB   # a 24 GB card
    placement = devices.choose_placement(NeedsMemory())
    assert placement == Placement(device="cuda", dtype="bfloat16", offload="none")


def test_a_gpu_too_small_offloads_by_model(gpu_with_free):
    free_bytes, _ = gpu_with_free
    free_bytes[0] = 15 * GIB   # a 16 GB card: the weights alone would fill it
    assert devices.choose_placement(NeedsMemory()).offload == "model"


def test_an_explicit_offload_is_honoured(gpu_with_free):
    free_bytes, asked_for = gpu_with_free
    free_bytes[0] = 1 * GIB
    assert devices.choose_placement(NeedsMemory(), offload="none").offload == "none"
    free_bytes[0] = 79 * GIB
    assert devices.choose_placement(NeedsMemory(), offload="model").offload == "model"
    assert asked_for == []   # an explicit choice does not look at free memory


def test_the_free_memory_of_the_chosen_gpu_decides(gpu_with_free):
    free_bytes, asked_for = gpu_with_free
    free_bytes[0] = 40 * GIB
    assert devices.choose_placement(NeedsMemory(), device="cuda:1").device == "cuda:1"
    assert asked_for == [1]


def test_out_of_memory_fails_the_job_only():
    error = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert devices.classify_failure(error) == FailureKind.OUT_OF_MEMORY


def test_a_broken_device_is_fatal():
    fatal = (
        torch.AcceleratorError("an illegal instruction was encountered"),
        RuntimeError("CUDA error: device-side assert triggered"),
        RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"),
        RuntimeError("NCCL error in: ProcessGroupNCCL.cpp"),
    )
    for error in fatal:
        assert devices.classify_failure(error) == FailureKind.FATAL, error


def test_other_errors_fail_the_job():
    for error in (ValueError("bad picture"), RuntimeError("shapes cannot be multiplied"),
                  GenerationError("GENERATION_FAILED", "no"), KeyError("x")):
        assert devices.classify_failure(error) == FailureKind.JOB, error


def test_cached_memory_is_released_on_cuda_only(monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    devices.release_cached_memory(CPU)
    assert emptied == []
    devices.release_cached_memory(Placement(device="cuda:0", dtype="bfloat16", offload="none"))
    assert emptied == [True]


class RecordingPipeline:
    """A pipeline stand-in that records how apply_placement placed it."""
    dtype = torch.float32

    def __init__(self):
        self.calls = []

    def to(self, *args, **kwargs):
        self.calls.append(("to", args, kwargs))
        return self

    def enable_model_cpu_offload(self, gpu_id=None):
        self.calls.append(("offload", gpu_id))


def test_apply_placement_moves_or_offloads():
    moved = devices.apply_placement(
        RecordingPipeline(), Placement(device="cuda:1", dtype="float32", offload="none"))
    assert moved.calls == [("to", ("cuda:1",), {})]
    offloaded = devices.apply_placement(
        RecordingPipeline(), Placement(device="cuda:1", dtype="bfloat16", offload="model"))
    assert offloaded.calls == [("to", (), {"dtype": torch.bfloat16}), ("offload", 1)]

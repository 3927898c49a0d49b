"""What every model module provides: a ModelSpec (what to download, how to load it) and the
LoadedModel it loads (one pipeline on one device, called by the generation thread only).

The server core depends on these classes and never on torch or diffusers, so it can be run
and tested with a fake model; the model modules import their libraries when they load.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PIL import Image

# Output sizes: the person photo's aspect ratio, each side a multiple of 16, at most 1 MP.
MAX_GENERATION_PIXELS = 1024 * 1024
SIZE_MULTIPLE = 16


@dataclass(frozen=True)
class TryOnInput:
    """One job's inputs, decoded: RGB pictures and our documented options."""
    person: Image.Image
    garment: Image.Image
    category: str = "auto"               # auto | tops | bottoms | one-pieces
    garment_description: str | None = None
    seed: int | None = None              # 0 .. 2**32-1; None: a random picture
    fast_mode: bool = False


@dataclass(frozen=True)
class Placement:
    """Where and how a pipeline runs."""
    device: str    # "cuda", "cuda:1" or "cpu"
    dtype: str     # "bfloat16" or "float32" (torch dtype names)
    offload: str   # "none" (all on the device) or "model" (enable_model_cpu_offload)


class FailureKind(StrEnum):
    JOB = "job"                      # this job failed; the server goes on
    OUT_OF_MEMORY = "out_of_memory"  # fail the job, release cached memory, go on
    FATAL = "fatal"                  # the device is unusable: exit non-zero, systemd restarts


class GenerationError(Exception):
    """A job that cannot be generated for a reason the caller can act on; `code` is one of
    the contract's error codes (INVALID_PERSON_IMAGE, GENERATION_FAILED, ...)."""

    def __init__(self, code, message, name=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.name = name or code


class LoadedModel(ABC):
    """A pipeline placed on its device and ready to generate, batch size 1."""

    def __init__(self, spec, placement):
        self.spec = spec
        self.placement = placement

    @abstractmethod
    def generate(self, tryon_input):
        """The try-on picture (PIL RGB) at the generation size; the caller scales it to the
        person photo's size. Raises GenerationError for a job it cannot do."""

    @abstractmethod
    def memory_bytes(self):
        """Bytes the model holds: on CUDA what torch has allocated, else its weights."""

    def warm_up(self):
        """One small generation, so that the first job does not pay for lazy set-up."""
        small = Image.new("RGB", (64, 64), (128, 128, 128))
        self.generate(TryOnInput(person=small, garment=small, seed=0, fast_mode=True))

    def failure_kind(self, exc):
        """How the generation thread treats an exception from generate()."""
        from ..devices import classify_failure
        return classify_failure(exc)

    def release_memory(self):
        """Give cached device memory back after an out-of-memory failure."""
        from ..devices import release_cached_memory
        release_cached_memory(self.placement)


@dataclass(frozen=True)
class ExtraDownload:
    """A second repository a model needs besides its own (e.g. a LoRA), fetched like the
    main one; `load` gets its local folder in `extra_dirs[name]`."""
    name: str
    repo_id: str
    revision: str
    allow_patterns: tuple[str, ...] | None = None


class ModelSpec(ABC):
    """A model the server can run, chosen with --model NAME."""
    name: str
    repo_id: str | None = None        # Hugging Face repository; None: nothing to download
    revision: str | None = None       # the pinned commit we download
    allow_patterns: tuple[str, ...] | None = None   # the files of the repository we need
    licence: str = ""
    commercial_use: bool = False
    noise: bool = False               # True: its pictures are noise (tests and smoke runs)
    full_gpu_bytes: int = 0           # device memory to run without offload (bf16)
    extra_downloads: tuple[ExtraDownload, ...] = ()   # other repositories to fetch

    @abstractmethod
    def load(self, weights_dir: Path | None, placement: Placement,
             extra_dirs: dict[str, Path] | None = None) -> LoadedModel:
        """Build the pipeline from the downloaded folder (None when nothing is downloaded)
        and place it; `extra_dirs` maps each of `extra_downloads` by name to its local
        folder. Called once, on the loader thread."""


def generation_size(width, height, *, max_pixels=MAX_GENERATION_PIXELS, multiple=SIZE_MULTIPLE):
    """The (width, height) to generate at for a person photo of this size: the same aspect
    ratio, at most `max_pixels`, each side a multiple of `multiple` (rounded down, at least one
    multiple). Photos within the limit keep their size, rounded."""
    scale = min(1.0, (max_pixels / (width * height)) ** 0.5)

    def side(length):
        return max(multiple, int(length * scale / multiple) * multiple)

    return side(width), side(height)

"""Where a pipeline runs and what a device failure means, kept apart from the model modules
so that every model places itself and reports failures the same way.

- `choose_placement` picks the device, dtype and offload mode from what this machine has;
- `apply_placement` puts a built pipeline there;
- `classify_failure` tells the generation thread whether an exception failed one job, ran out
  of GPU memory (fail the job and go on) or left the device unusable (exit, be restarted);
- `release_cached_memory` gives cached GPU memory back after an out-of-memory failure.

torch is imported inside the functions: the server core imports this module without it.
"""
import gc

from .models.base import FailureKind, Placement

# Room left beside the weights for activations at 1 MP, the CUDA context and the allocator's
# slack: a model runs fully on the GPU only when free memory covers its weights plus this.
FULL_GPU_MARGIN_BYTES = 2 * 1024**3

DEVICE_CHOICES = ("auto", "cuda", "cpu")   # or "cuda:N"
OFFLOAD_CHOICES = ("auto", "none", "model")

# Texts of RuntimeErrors raised by a broken device rather than by one job's inputs: after
# one of these the CUDA context cannot be trusted, so the process exits and is restarted.
FATAL_ERROR_MARKERS = (
    "CUDA error",
    "CUDA driver",
    "device-side assert",
    "illegal memory access",
    "cuDNN error",
    "CUBLAS_STATUS",
    "CUDNN_STATUS",
    "NCCL error",
    "misaligned address",
    "unspecified launch failure",
)


def choose_placement(spec, device="auto", offload="auto"):
    """The Placement for `spec` on this machine: CUDA in bfloat16 when there is a GPU (or
    when asked for), else the CPU in float32, which "auto" picks only for a model that needs
    no GPU memory (tiny-random). Offload "auto" keeps the whole pipeline on the GPU when its
    free memory holds spec.full_gpu_bytes plus a margin, else offloads by model."""
    import torch

    if offload not in OFFLOAD_CHOICES:
        raise ValueError(f"offload must be one of {', '.join(OFFLOAD_CHOICES)}, not {offload!r}")
    asked = device
    device = _resolve_device(device, torch.cuda.is_available())
    if device == "cpu" and asked == "auto" and spec.full_gpu_bytes:
        # Before any download: 15 GB of weights for minutes a picture is not what "auto"
        # should pick on a machine without a GPU.
        raise ValueError(
            f"torch sees no CUDA GPU here (no driver, or a CPU build of torch), and "
            f"{spec.name} needs one (about {spec.full_gpu_bytes / 1024**3:.0f} GB of GPU "
            "memory to run whole); pass --device cpu to run it on the CPU anyway (minutes a "
            "picture), or use --model tiny-random for a smoke test")
    if device == "cpu":
        if offload == "model":
            raise ValueError("offload 'model' moves models between the CPU and a GPU; "
                             "it needs a CUDA device, and this placement is the CPU")
        return Placement(device="cpu", dtype="float32", offload="none")
    if offload == "auto":
        free_bytes, _total = torch.cuda.mem_get_info(gpu_index(device))
        fits = free_bytes >= spec.full_gpu_bytes + FULL_GPU_MARGIN_BYTES
        offload = "none" if fits else "model"
    return Placement(device=device, dtype="bfloat16", offload=offload)


def _resolve_device(device, cuda_available):
    """"auto", "cpu", "cuda" or "cuda:N", checked against what this machine has."""
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or _is_indexed_cuda(device):
        if not cuda_available:
            raise ValueError(f"device {device!r} was asked for, but torch sees no CUDA GPU "
                             "here (no driver, or a CPU build of torch); use --device cpu "
                             "or auto")
        return device
    raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}")


def _is_indexed_cuda(device):
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()


def gpu_index(device):
    """The GPU number of "cuda" (0) or "cuda:N" (N)."""
    _prefix, _, index = device.partition(":")
    return int(index) if index else 0


def torch_dtype(placement):
    """The torch dtype a placement names ("bfloat16" -> torch.bfloat16)."""
    import torch
    return getattr(torch, placement.dtype)


def apply_placement(pipeline, placement):
    """Cast a built pipeline to the placement's dtype, then move it onto the device, or
    let accelerate move each model onto the GPU only while it runs (offload "model")."""
    dtype = torch_dtype(placement)
    if pipeline.dtype != dtype:
        pipeline.to(dtype=dtype)
    if placement.offload == "model":
        pipeline.enable_model_cpu_offload(gpu_id=gpu_index(placement.device))
    else:
        pipeline.to(placement.device)
    return pipeline


def classify_failure(exc):
    """How the generation thread treats an exception raised while generating."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return FailureKind.OUT_OF_MEMORY
    accelerator_error = getattr(torch, "AcceleratorError", None)
    if accelerator_error is not None and isinstance(exc, accelerator_error):
        return FailureKind.FATAL
    if isinstance(exc, RuntimeError) and any(m in str(exc) for m in FATAL_ERROR_MARKERS):
        return FailureKind.FATAL
    return FailureKind.JOB


def release_cached_memory(placement):
    """Free what the failed job left behind: Python garbage first (it may hold tensors),
    then the CUDA allocator's cache, so the next job starts from the weights alone."""
    gc.collect()
    if placement.device.startswith("cuda"):
        import torch
        torch.cuda.empty_cache()


def module_bytes(modules):
    """Bytes held by the parameters and buffers of these torch modules."""
    total = 0
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            total += tensor.numel() * tensor.element_size()
    return total


def pipeline_memory_bytes(pipeline, placement):
    """What a placed pipeline holds: on CUDA what torch has allocated on its GPU (with
    offload, what is on the GPU now), on the CPU the bytes of its weights."""
    if placement.device.startswith("cuda"):
        import torch
        return torch.cuda.memory_allocated(gpu_index(placement.device))
    import torch
    modules = [c for c in pipeline.components.values() if isinstance(c, torch.nn.Module)]
    return module_bytes(modules)

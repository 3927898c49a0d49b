"""The model server's settings: each command-line flag has a TRYON_MODELSERVER_* variable as
its default, so the same settings work from a shell, a systemd unit or a container."""
import argparse
import os
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "TRYON_MODELSERVER_"


@dataclass(frozen=True)
class ServerSettings:
    model: str = "flux2-klein-4b"
    bind: str = "127.0.0.1:9000"
    token: str | None = None
    max_queue: int = 8
    results_dir: Path = Path("instance/modelserver-results")
    result_ttl: int = 3600
    model_path: Path | None = None
    cache_dir: Path | None = None
    offline: bool = False
    device: str = "auto"
    offload: str = "auto"
    keep_face: str = "auto"
    url_allow: str = ""
    lightning_steps: int | None = None
    max_request_bytes: int = 40 * 1024 * 1024
    max_input_pixels: int = 2048 * 2048   # the contract: at most 2048 px a side
    fetch_timeout: float = 20.0

    @property
    def host(self):
        return self.bind.rpartition(":")[0] or "127.0.0.1"

    @property
    def port(self):
        return int(self.bind.rpartition(":")[2])


def _flag(parser, name, help, *, type=str, default=None, choices=None, environ):
    """Add --name with TRYON_MODELSERVER_NAME (or the built-in default) as its default."""
    variable = ENV_PREFIX + name.replace("-", "_").upper()
    if variable in environ:
        default = environ[variable]
    shown = "unset" if default is None else default
    parser.add_argument(f"--{name}", type=type, default=default, choices=choices,
                        help=f"{help} [{variable}; default: {shown}]")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _bind(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return text


def _yes_no(text):
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not yes or no")


def build_parser(model_names, environ=None):
    environ = os.environ if environ is None else environ
    base = ServerSettings()
    parser = argparse.ArgumentParser(
        prog="python -m tryon.modelserver",
        description="Run an open-weight try-on model on this machine behind the tryon `http` "
                    "provider contract (docs/providers.md). Point the API at it with "
                    "TRYON_PROVIDER=http and TRYON_HTTP_PROVIDER_URL=http://HOST:PORT.")

    def flag(name, help, **kwargs):
        _flag(parser, name, help, environ=environ, **kwargs)

    flag("model", "the model to run", default=base.model, choices=model_names)
    flag("bind", "address and port to listen on (port 0: any free port, printed at start)",
         type=_bind, default=base.bind)
    flag("token", "bearer token callers must send (TRYON_HTTP_PROVIDER_TOKEN on the API)")
    flag("max-queue", "jobs that may wait for the GPU; more are answered 429",
         type=_positive_int, default=base.max_queue)
    flag("results-dir", "folder for finished pictures", type=Path, default=base.results_dir)
    flag("result-ttl", "seconds a finished picture and its job are kept",
         type=_positive_int, default=base.result_ttl)
    flag("model-path", "a downloaded diffusers folder of the model: nothing is downloaded",
         type=Path)
    flag("cache-dir", "Hugging Face cache for downloaded weights (default: HF_HOME's)",
         type=Path)
    flag("offline", "never download: use the cache or --model-path only", type=_yes_no,
         default=base.offline)
    flag("device", "cuda, cuda:N or cpu; auto: CUDA when present", default=base.device)
    flag("offload", "none: the whole model on the GPU; model: enable_model_cpu_offload; "
         "auto: chosen from free GPU memory", default=base.offload,
         choices=("auto", "none", "model"))
    flag("keep-face", "paste the person's own face back into results; auto: on for real "
         "models", default=base.keep_face, choices=("auto", "on", "off"))
    flag("url-allow", "hosts or networks (comma-separated) that image URLs may point to "
         "besides public addresses, e.g. the API's private address", default=base.url_allow)
    flag("lightning-steps", "qwen-image-edit-2511 only: 4 or 8 runs lightx2v's Lightning "
         "LoRA for that many steps (needs peft); unset: the model card's 40 steps",
         type=int, choices=(4, 8))
    return parser


def settings_from_args(args):
    return ServerSettings(
        model=args.model, bind=args.bind, token=args.token or None, max_queue=args.max_queue,
        results_dir=args.results_dir, result_ttl=args.result_ttl, model_path=args.model_path,
        cache_dir=args.cache_dir, offline=args.offline, device=args.device,
        offload=args.offload, keep_face=args.keep_face, url_allow=args.url_allow,
        lightning_steps=args.lightning_steps)


def parse_settings(argv, model_names, environ=None):
    return settings_from_args(build_parser(model_names, environ).parse_args(argv))

"""Configuration: safe defaults, overridden by TRYON_* environment variables.

Every setting is listed once in SETTINGS, with its type and default; the README's
configuration table documents the same list. `load_from_env` validates values at start so
that a typo fails loudly at boot instead of at the first request.
"""
import os
from dataclasses import dataclass


class ConfigError(ValueError):
    """A TRYON_* variable has a value we cannot use."""


@dataclass(frozen=True)
class Setting:
    name: str          # Flask config key; the environment variable is TRYON_<name>
    default: object
    kind: type
    help: str
    choices: tuple = ()
    minimum: float | None = None


SETTINGS = (
    Setting("SECRET_KEY", None, str,
            "Signs sessions and result URLs. Unset: a random key is generated once and kept in "
            "the instance folder (secret_key file)."),
    Setting("INSTANCE_PATH", None, str,
            "Folder for the database, the object store and the generated secret. Default: ./instance."),
    Setting("DATABASE", None, str, "SQLite database file. Default: <instance>/tryon.sqlite3."),
    Setting("PUBLIC_BASE_URL", None, str,
            "Absolute base of the URLs we hand out (imageUrl), e.g. https://tryon.example.com. "
            "Default: the request's own scheme and host."),
    Setting("PROVIDER", "local", str,
            "Generation provider: local (built-in offline engine) or another registered provider."),
    Setting("MODELS_DIR", None, str,
            "Folder of the local engine's model files. Default: tryon/engine/models "
            "(filled by `python -m tryon.engine.fetch_models`)."),
    Setting("WORKERS", 2, int, "Worker threads that run generation jobs.", minimum=0),
    Setting("JOB_COST", 1, int, "Credits one job costs.", minimum=0),
    Setting("JOB_LEASE_SECONDS", 30, float,
            "How long a worker's claim on a running job lasts without renewal; after a crash, "
            "the job runs again once its lease has expired.", minimum=1),
    Setting("JOB_MAX_ATTEMPTS", 3, int,
            "Runs a job gets before it fails with QUEUE_PROCESSING_FAILED (guards against an "
            "input that crashes the process every time).", minimum=1),
    Setting("RESULT_URL_TTL", 3600, int, "Seconds a signed imageUrl stays valid.", minimum=1),
    Setting("RESULT_DELIVERY", "url", str,
            "How a completed job returns its image: url, base64 or both.",
            choices=("url", "base64", "both")),
    Setting("MAX_UPLOAD_MB", 20, float, "Largest accepted request body, in MB (413 above).",
            minimum=0.01),
    Setting("MAX_IMAGE_PIXELS", 40_000_000, int,
            "Largest accepted image, in pixels (decompression bombs are refused).", minimum=1),
    Setting("MIN_IMAGE_SIDE", 256, int, "Smallest accepted width or height, in pixels.",
            minimum=1),
    Setting("RETENTION_DAYS", 30, float,
            "Days after which a finished job's person, garment and result images are deleted "
            "(people's photos are personal data); 0 keeps them forever.", minimum=0),
    Setting("ALLOW_URL_INPUTS", True, bool,
            "Accept http(s) URLs instead of files in person_images / garment_images."),
    Setting("URL_INPUT_ALLOW", "", str,
            "Comma-separated hosts or networks (e.g. images.internal, 10.1.0.0/16, 127.0.0.1) "
            "that URL inputs and webhooks may reach despite the private-address guard."),
    Setting("URL_FETCH_TIMEOUT", 15, float,
            "Seconds a URL input may take to download, in all.", minimum=0.1),
    Setting("WEBHOOK_RETRY_SECONDS", "10,30,60,120,300,600,1200,1800,1800", str,
            "Waits between webhook delivery attempts (comma-separated seconds); the default "
            "retries for about 1 h 40 min."),
    Setting("METRICS_TOKEN", None, str,
            "Bearer token that /metrics requires; unset, /metrics answers only direct requests "
            "from this machine."),
    Setting("RATE_LIMIT_SUBMIT", "60 per minute", str,
            "Submit limit per API key (flask-limiter syntax, e.g. '10/second;500/hour')."),
    Setting("RATE_LIMIT_STATUS", "600 per minute", str, "Status-poll limit per API key."),
    Setting("RATE_LIMIT_STORAGE_URI", "memory://", str,
            "Where rate-limit counters live (memory:// suits the single-process deployment)."),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def defaults():
    return {s.name: s.default for s in SETTINGS}


def load_from_env(environ=os.environ):
    """Return the settings given in `environ`, converted and checked."""
    values = {}
    for setting in SETTINGS:
        raw = environ.get("TRYON_" + setting.name)
        if raw is None or raw == "":
            continue
        values[setting.name] = _convert(setting, raw.strip())
    return values


def _convert(setting, raw):
    name = "TRYON_" + setting.name
    try:
        if setting.kind is bool:
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError
            value = raw.lower() in _TRUE
        else:
            value = setting.kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {setting.kind.__name__}") from None
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"{name}={raw!r}: choose one of {', '.join(setting.choices)}")
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"{name}={raw!r}: must be at least {setting.minimum}")
    return value

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


def rate_limit(text):
    """A flask-limiter limit string such as '10/second;500/hour', checked now so that a typo
    stops the start instead of failing every request."""
    from limits import parse_many  # imported here: tryon.client must not need it

    try:
        parse_many(text)
    except ValueError:
        raise ValueError(text) from None
    return text


SETTINGS = (
    Setting("SECRET_KEY", None, str,
            "Signs sessions and result URLs. Unset: a random key is generated once and kept in "
            "the instance folder (secret_key file)."),
    Setting("INSTANCE_PATH", None, str,
            "Folder for the database, the object store and the generated secret. "
            "Default: ./instance."),
    Setting("DATABASE", None, str, "SQLite database file. Default: <instance>/tryon.sqlite3."),
    Setting("PUBLIC_BASE_URL", None, str,
            "Absolute base of the URLs we hand out (imageUrl), e.g. https://tryon.example.com. "
            "When it is https, responses also carry Strict-Transport-Security. "
            "Default: the request's own scheme and host."),
    Setting("PROVIDER", "local", str,
            "Generation provider: local (built-in offline engine), fashn, replicate, fal or http "
            "(remote providers, see the README)."),
    Setting("MODELS_DIR", None, str,
            "Folder of the local engine's model files. Default: tryon/engine/models "
            "(filled by `python -m tryon.engine.fetch_models`)."),
    Setting("PROVIDER_TIMEOUT", 600, float,
            "Seconds a remote provider may take for one job (submission, polling and download), "
            "counted from the remote submission across restarts, before the job fails with "
            "GENERATION_FAILED.", minimum=1),
    Setting("FASHN_API_KEY", None, str, "API key of the fashn provider (FASHN API)."),
    Setting("FASHN_BASE_URL", "https://api.fashn.ai", str, "FASHN API base URL."),
    Setting("FASHN_MODEL", "tryon-v1.6", str, "FASHN model_name."),
    Setting("REPLICATE_API_TOKEN", None, str, "API token of the replicate provider."),
    Setting("REPLICATE_BASE_URL", "https://api.replicate.com", str, "Replicate API base URL."),
    Setting("REPLICATE_VERSION",
            "0513734a452173b8173e907e3a59d19a36266e55b48528559432bd21c7d7e985", str,
            "Version id of the IDM-VTON model (cuuupid/idm-vton) on Replicate."),
    Setting("FAL_KEY", None, str, "API key of the fal provider (fal.ai)."),
    Setting("FAL_BASE_URL", "https://queue.fal.run", str, "fal.ai queue API base URL."),
    Setting("FAL_MODEL", "fal-ai/kling/v1-5/kolors-virtual-try-on", str,
            "fal.ai try-on model: Kolors, Leffa, CatVTON or FASHN (see the README)."),
    Setting("HTTP_PROVIDER_URL", None, str,
            "Base URL of your own model server for the http provider, or a comma-separated "
            "list of them (README: Photoreal on your own GPU)."),
    Setting("HTTP_PROVIDER_TOKEN", None, str,
            "Bearer token sent to your model server (unset: no Authorization header)."),
    Setting("WORKERS", None, int,
            "Worker threads that run generation jobs (0: none, jobs wait). Unset: one per CPU "
            "core for the local engine, which is CPU-bound; 8 for a remote provider, whose "
            "jobs mostly wait on the network.", minimum=0),
    Setting("JOB_COST", 1, int, "Credits one job costs.", minimum=0),
    Setting("JOB_LEASE_SECONDS", 30, float,
            "How long a worker's claim on a running job lasts without renewal; after a crash, "
            "the job runs again once its lease has expired.", minimum=1),
    Setting("JOB_MAX_ATTEMPTS", 3, int,
            "Runs a job gets before it fails with QUEUE_PROCESSING_FAILED (guards against an "
            "input that crashes the process every time).", minimum=1),
    Setting("RESULT_URL_TTL", 3600, int,
            "Seconds a signed imageUrl stays valid (at least; the expiry is rounded up to the "
            "next 10 s, so that polls within 10 s get the same URL).", minimum=1),
    Setting("RESULT_DELIVERY", "url", str,
            "How a completed job returns its image: url, base64 or both.",
            choices=("url", "base64", "both")),
    Setting("MAX_UPLOAD_MB", 20, float, "Largest accepted request body, in MB (413 above).",
            minimum=0.01),
    Setting("MAX_IMAGE_PIXELS", 40_000_000, int,
            "Largest accepted image, in pixels (decompression bombs are refused).", minimum=1),
    Setting("DECODE_BUDGET_PIXELS", 40_000_000, int,
            "Pixels that uploads and URL inputs may be decoding at once, in all (3 to 8 bytes "
            "of memory each while they do); a decode that does not fit waits its turn. An "
            "image larger than this still decodes, alone.", minimum=1),
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
    Setting("RATE_LIMIT_SUBMIT", "60 per minute", rate_limit,
            "Submit limit per API key (flask-limiter syntax, e.g. '10/second;500/hour')."),
    Setting("RATE_LIMIT_STATUS", "600 per minute", rate_limit, "Status-poll limit per API key."),
    Setting("RATE_LIMIT_STORAGE_URI", "tryon-memory://", str,
            "Where rate-limit counters live: tryon-memory:// (in this process, fits the "
            "single-process deployment) or any flask-limiter storage URI (e.g. redis://)."),
    Setting("ALLOW_SIGNUP", False, bool,
            "Let anyone create an account on the dashboard's sign-up page. The first account "
            "(which becomes the admin) can always sign up."),
    Setting("SIGNUP_CREDITS", 10, int, "Credits a new account gets at sign-up.", minimum=0),
    Setting("SIGNUP_RATE_LIMIT", "10 per hour", rate_limit,
            "Sign-up attempts allowed per client address (flask-limiter syntax), so that open "
            "sign-up cannot be scripted into many accounts and their free credits."),
    Setting("LOGIN_RATE_LIMIT", "5 per minute;20 per hour", rate_limit,
            "Failed dashboard logins allowed per client address and email (flask-limiter "
            "syntax); further attempts get 429."),
    Setting("LOGIN_ADDRESS_RATE_LIMIT", "30 per minute;200 per hour", rate_limit,
            "Failed dashboard logins allowed per client address, whatever the email (stops "
            "one address from trying a password on many accounts)."),
    Setting("TRUSTED_PROXIES", 0, int,
            "How many reverse proxies (e.g. 1 for the nginx site in deploy/) stand in front and "
            "set X-Forwarded-For and X-Forwarded-Proto; their values are then trusted for the "
            "client address (login limits, logs) and the scheme. 0: the headers are ignored.",
            minimum=0),
)

REMOTE_PROVIDER_WORKERS = 8


def default_workers(provider):
    """TRYON_WORKERS when it is unset (see its help)."""
    return (os.cpu_count() or 1) if provider == "local" else REMOTE_PROVIDER_WORKERS


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
        kind = setting.kind.__name__.replace("_", " ")
        raise ConfigError(f"{name}={raw!r} is not a valid {kind}") from None
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"{name}={raw!r}: choose one of {', '.join(setting.choices)}")
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"{name}={raw!r}: must be at least {setting.minimum}")
    return value

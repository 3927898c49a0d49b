"""Running one claimed job: read inputs, call the provider, store the result, finish.

Every failure ends as `jobs.fail` with a documented errorCode and the step that failed;
an unexpected exception is logged with its traceback and becomes GENERATION_FAILED (inside
the provider) or INTERNAL_ERROR (in our own code).
"""
import io
import ipaddress
import logging
import time
from urllib.parse import urlsplit

from PIL import Image

from tryon import errors
from tryon.errors import JobFailure
from tryon.media import jpeg
from tryon.media.images import ImageRejected
from tryon.media.url_inputs import input_label
from tryon.providers import (
    GenerationRequest,
    InputImage,
    JobContext,
    ProviderError,
    UnknownProvider,
)
from tryon.queue import jobs
from tryon.store.db import parse_utc
from tryon.store.objects import StorageError

log = logging.getLogger(__name__)

STORED_RESULT_FORMATS = {"PNG": "png", "JPEG": "jpg"}
INPUT_ERROR_CODES = {"person": errors.INVALID_PERSON_IMAGE,
                     "garment": errors.INVALID_GARMENT_IMAGE}


class JobRunner:
    """Runs claimed jobs; one instance shared by the worker threads (it keeps no job state)."""

    def __init__(self, store, providers, config, metrics=None, signer=None, url_inputs=None):
        self.store = store
        self.providers = providers
        self.config = config
        self.metrics = metrics
        self.signer = signer  # signs input URLs for remote providers (see _public_url)
        self.url_inputs = url_inputs  # UrlInputFetcher: downloads URL inputs (url_inputs.py)

    def warm_up(self):
        """Say which provider runs the jobs and what it lacks, then prepare it (e.g. load
        models) before the first job needs it. Called when the worker starts."""
        name = self.config["PROVIDER"]
        status = self.providers.status(name)
        if not status["ready"]:
            log.error("provider %s is not ready: %s (jobs will fail with "
                      "INVALID_SERVICE_PROVIDER or CONSUMER_CONFIG_ERROR)", name,
                      "; ".join(status["problems"]))
            return
        log.info("provider %s is ready", name)
        try:
            self.providers.get(name).warm_up()
        except Exception:  # a job will report the problem with its errorCode
            log.exception("could not prepare provider %s", name)

    def run(self, conn, job, lease):
        started = time.monotonic()
        outcome = "completed"
        try:
            self._run(conn, job, lease, started)
        except JobFailure as failure:
            outcome = "failed"
            log.info("job %s failed at %s: %s %s", job.id, failure.step, failure.error_code,
                     failure.message)
            jobs.fail(conn, lease, failure.error_code, failure.message, failure.step,
                      failure.details)
        except Exception:
            outcome = "failed"
            log.exception("job %s: unexpected error", job.id)
            jobs.fail(conn, lease, errors.INTERNAL_ERROR,
                      "An unexpected internal error occurred while processing the job.",
                      step="internal")
        if self.metrics is not None:
            self.metrics.observe_job(job.provider, outcome, time.monotonic() - started)

    def _run(self, conn, job, lease, started):
        provider = self._provider(job)
        self._download_url_inputs(job)
        request = GenerationRequest(
            job_id=job.id,
            person=self._load_input(job.person_key, "person"),
            garment=self._load_input(job.garment_key, "garment"),
            options=job.options,
        )
        context = JobContext(
            remote_state=job.remote_state or {},
            save_remote_state=lambda state: jobs.save_remote_state(conn, lease, state),
            deadline=time.monotonic() + self.config["PROVIDER_TIMEOUT"],
        )
        generated = self._generate(provider, request, context)
        generation_ms = (time.monotonic() - started) * 1000
        self._store_result(conn, job, lease, provider.name, generated, generation_ms)

    def _provider(self, job):
        try:
            provider = self.providers.get(job.provider)
        except UnknownProvider as exc:
            raise JobFailure(errors.INVALID_SERVICE_PROVIDER, str(exc),
                             step="select_provider") from exc
        problems = provider.configuration_problems()
        if problems:
            raise JobFailure(errors.CONSUMER_CONFIG_ERROR,
                             f"The {provider.name} provider is not configured: "
                             + "; ".join(problems), step="select_provider")
        return provider

    def _download_url_inputs(self, job):
        """Download and store the job's URL inputs. An input already stored (an earlier run
        stopped after storing it) is used as it is: the store writes objects atomically.

        This runs in the job's worker thread, holding it for up to TRYON_URL_FETCH_TIMEOUT
        per input: simpler than a separate pool, and bounded (README: URL inputs)."""
        for label, url, key in job.inputs():
            if url and not self.store.exists(key):
                self._download(url, key, label, INPUT_ERROR_CODES[label])

    def _download(self, url, key, label, error_code):
        try:
            image = self.url_inputs.fetch(url, input_label(label))
        except ImageRejected as exc:
            raise JobFailure(error_code, str(exc), step="fetch_inputs") from None
        try:
            self.store.put(key, image.data)
        except StorageError as exc:
            raise JobFailure(errors.STORAGE_FAILED,
                             f"The downloaded {label} image could not be stored ({exc}).",
                             step="fetch_inputs") from None

    def _load_input(self, key, label):
        try:
            data = self.store.read(key)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                mime = Image.MIME.get(image.format, "application/octet-stream")
        except StorageError as exc:
            raise JobFailure(errors.R2_FETCH_FAILED,
                             f"The stored {label} image could not be read back ({exc}).",
                             step="load_inputs") from exc
        except (OSError, ValueError) as exc:
            raise JobFailure(errors.QUEUE_INVALID_INPUT_DATA,
                             f"The stored {label} image is not a readable image ({exc}).",
                             step="load_inputs") from exc
        return InputImage(data=data, mime=mime, width=width, height=height,
                          url=self._public_url(key))

    def _public_url(self, key):
        """A signed URL a remote provider can fetch the stored input from, or None when
        TRYON_PUBLIC_BASE_URL is unset or not reachable from the internet (the provider then
        gets the image inline). Valid for TRYON_RESULT_URL_TTL seconds, like result URLs."""
        base = self.config.get("PUBLIC_BASE_URL")
        if self.signer is None or not _is_public_base_url(base):
            return None
        return base.rstrip("/") + self.signer.signed_path(key)

    def _generate(self, provider, request, context):
        try:
            return provider.generate(request, context)
        except ProviderError as exc:
            raise JobFailure(exc.error_code, exc.message, step=exc.step,
                             details=exc.details()) from exc
        except Exception as exc:
            log.exception("provider %s crashed on job %s", provider.name, request.job_id)
            raise JobFailure(errors.GENERATION_FAILED,
                             f"The {provider.name} provider failed unexpectedly "
                             f"({type(exc).__name__}).", step="generate") from exc

    def _store_result(self, conn, job, lease, provider_name, generated, generation_ms):
        image_format, width, height = _check_result_image(
            generated.image, self.config["MAX_IMAGE_PIXELS"])
        key = f"results/{job.id}.{STORED_RESULT_FORMATS[image_format]}"
        try:
            staged = self.store.stage(generated.image, near=key)
        except StorageError as exc:
            raise JobFailure(errors.STORAGE_FAILED, f"The result could not be saved ({exc}).",
                             step="store_result") from exc
        result = {
            "objectKey": key,
            "provider": provider_name,
            "width": width,
            "height": height,
            "format": image_format.lower(),
            "timings": _timings(job, generation_ms),
            **generated.metadata,
        }
        try:
            if not jobs.complete(conn, lease, key, result,
                                 before_commit=lambda: staged.commit(key)):
                staged.discard()  # another attempt owns the job now; its result stands
        except StorageError as exc:
            raise JobFailure(errors.STORAGE_FAILED, f"The result could not be saved ({exc}).",
                             step="store_result") from exc


def _check_result_image(data, max_pixels):
    """Check the provider's output before it is stored: a PNG or JPEG within the pixel
    limit, whole to its last byte. A broken result fails the job, not the reader.

    Wholeness is checked on the file's structure rather than by decoding every pixel,
    which cost more than everything else a job does: a PNG's chunks must all pass their
    CRC through to IEND; a JPEG's segments must run through to its end-of-image marker.
    That catches truncated downloads, error pages and any damage to a PNG; what it lets
    through is a structurally whole JPEG with damaged compressed data, which viewers show
    with artefacts rather than fail on."""
    try:
        with Image.open(io.BytesIO(data), formats=tuple(STORED_RESULT_FORMATS)) as image:
            width, height = image.size
            image_format = image.format
            if image_format not in STORED_RESULT_FORMATS:  # e.g. MPO, Pillow's multi-JPEG
                raise JobFailure(errors.GENERATION_FAILED,
                                 f"The provider returned a {image_format} image; PNG or JPEG "
                                 "expected.", step="check_result")
            if width * height > max_pixels:
                raise ValueError(f"{width}x{height} is above the pixel limit")
            if image_format == "PNG":
                image.verify()
            elif not jpeg.is_whole(data):
                raise ValueError("the JPEG stops before its end-of-image marker")
    except Image.UnidentifiedImageError:
        raise JobFailure(errors.GENERATION_FAILED,
                         "The provider returned something that is not a PNG or JPEG image.",
                         step="check_result") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise JobFailure(errors.GENERATION_FAILED,
                         f"The provider returned an unreadable image ({exc}).",
                         step="check_result") from None
    return image_format, width, height


def _timings(job, generation_ms):
    created = parse_utc(job.created_at)
    started = parse_utc(job.started_at) if job.started_at else created
    return {
        "queuedMs": round((started - created).total_seconds() * 1000),
        "generationMs": round(generation_ms),
        "attempt": job.attempts,
    }


def _is_public_base_url(url):
    """True for an http(s) URL whose host is a name or a public address (a remote provider
    cannot fetch from localhost or a private network)."""
    if not url:
        return False
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or host == "localhost" \
            or host.endswith(".localhost"):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True  # a DNS name: the operator says it is public

"""The services one app holds, as one typed object: built once by create_app.

The blueprints reach them with `services.of(current_app)`; the core never looks anything up:
JobRunner, JobWorker, Submissions and the rest get what they use in their constructors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only: importing them here would load every layer
    from flask_limiter import Limiter

    from tryon.media.images import ImageNormalizer
    from tryon.media.safe_http import SafeHttp
    from tryon.providers import ProviderRegistry
    from tryon.queue.status import StatusRenderer
    from tryon.queue.submissions import Submissions
    from tryon.queue.worker import JobWorker
    from tryon.store.db import ThreadConnections
    from tryon.store.objects import ObjectStore, UrlSigner
    from tryon.web.metrics import Metrics

EXTENSION_KEY = "tryon"


@dataclass
class Services:
    connections: ThreadConnections   # one SQLite connection per request thread
    store: ObjectStore               # inputs and results on disk
    signer: UrlSigner                # the signed /files/ URLs
    metrics: Metrics
    providers: ProviderRegistry
    http: SafeHttp                   # outgoing HTTP behind the private-address guard
    images: ImageNormalizer          # upload checks, within the decode budget
    status: StatusRenderer           # a job's status document
    worker: JobWorker
    submissions: Submissions
    limiter: Limiter | None = None   # set by the factory when it registers the web layer


def install(app, services):
    app.extensions[EXTENSION_KEY] = services


def of(app) -> Services:
    """The services of a Flask app (`current_app` in a request)."""
    return app.extensions[EXTENSION_KEY]

"""create_app: the Flask app with its settings, services, blueprints and job worker."""
import logging
import os
import secrets
import tempfile
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from tryon.media.images import DecodeBudget, ImageNormalizer
from tryon.media.safe_http import AddressPolicy, SafeHttp
from tryon.media.url_inputs import UrlInputFetcher
from tryon.queue.lost_results import LostResults
from tryon.queue.processing import JobRunner
from tryon.queue.retention import RetentionSweeper
from tryon.queue.status import StatusRenderer
from tryon.queue.submissions import Submissions
from tryon.queue.webhooks import WebhookSender, parse_retry_schedule
from tryon.queue.worker import JobWorker
from tryon.store import db
from tryon.store.objects import ObjectStore, UrlSigner
from tryon.web import multipart
from tryon.web.metrics import Metrics
from tryon.web.wsgi_input import BlockReadInput

from . import config as settings
from . import services
from .providers import default_registry

PROJECT_ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def create_app(test_config=None, *, start_worker=False):
    """Build the app. `start_worker=True` also starts the background job worker; the
    serving entry point (wsgi.py) asks for it, CLI commands and most tests do not."""
    config = _load_config(test_config)
    app = Flask(__name__, instance_path=config["INSTANCE_PATH"],
                template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["DATABASE"] = app.config["DATABASE"] or os.path.join(app.instance_path,
                                                                    "tryon.sqlite3")
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or _instance_secret(app.instance_path)
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_MB"] * 1024 * 1024)

    multipart.install()  # a Latin-1 filename must not empty the form (tryon/web/multipart.py)
    app.wsgi_app = BlockReadInput(app.wsgi_app)
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    _migrate(app)
    _init_services(app)
    _register_web(app)
    if start_worker:
        services.of(app).worker.start()
    return app


def _load_config(test_config):
    config = settings.defaults()
    config.update(settings.load_from_env())
    config.update(test_config or {})
    config["INSTANCE_PATH"] = os.path.abspath(config["INSTANCE_PATH"] or PROJECT_ROOT / "instance")
    if config["WORKERS"] is None:
        config["WORKERS"] = settings.default_workers(config["PROVIDER"])
    return config


def _instance_secret(instance_path):
    """A random secret generated once and kept (0600) in the instance folder.

    It is written to a temporary file and linked into place, so a process starting at the
    same moment (the server and a CLI command) sees either no file or the whole secret."""
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        fd, temporary = tempfile.mkstemp(dir=instance_path, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:  # mkstemp makes it 0600
                f.write(secrets.token_hex(32))
                f.flush()
                os.fsync(f.fileno())  # a power cut must not leave an empty secret behind
            os.link(temporary, path)  # fails if another process got there first: keep theirs
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    with open(path, encoding="ascii") as f:
        secret = f.read().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty: delete it to generate a new secret")
    return secret


def _migrate(app):
    conn = db.connect(app.config["DATABASE"])
    try:
        db.migrate(conn, db.migration_lock_path(app.config["DATABASE"]))
    finally:
        conn.close()


def _init_services(app):
    config = app.config
    store = ObjectStore(os.path.join(app.instance_path, "objects"))
    providers = default_registry(config)
    metrics = Metrics()
    signer = UrlSigner(config["SECRET_KEY"], config["RESULT_URL_TTL"])
    http = SafeHttp(AddressPolicy(config["URL_INPUT_ALLOW"]))
    images = ImageNormalizer(  # uploads and URL inputs share it
        max_pixels=config["MAX_IMAGE_PIXELS"], min_side=config["MIN_IMAGE_SIDE"],
        budget=DecodeBudget(config["DECODE_BUDGET_PIXELS"]))
    url_inputs = UrlInputFetcher(http, images, max_bytes=config["MAX_CONTENT_LENGTH"],
                                 timeout=config["URL_FETCH_TIMEOUT"])
    runner = JobRunner(store, providers, config, metrics, signer=signer, url_inputs=url_inputs)
    lost_results = LostResults(store)
    status = StatusRenderer(store, signer, config["RESULT_DELIVERY"], config["RETENTION_DAYS"],
                            lost_results)
    webhook_sender = WebhookSender(
        config["DATABASE"], http, status, retry_schedule=parse_retry_schedule(
            config["WEBHOOK_RETRY_SECONDS"]), public_base_url=config["PUBLIC_BASE_URL"])
    worker = JobWorker(
        config["DATABASE"], runner, threads=config["WORKERS"],
        lease_seconds=config["JOB_LEASE_SECONDS"], max_attempts=config["JOB_MAX_ATTEMPTS"],
        webhooks=webhook_sender, retention=RetentionSweeper(store, config["RETENTION_DAYS"]),
        lost_results=lost_results)
    submissions = Submissions(
        store=store, http=http, images=images, worker=worker, provider=config["PROVIDER"],
        job_cost=config["JOB_COST"], allow_url_inputs=config["ALLOW_URL_INPUTS"])
    services.install(app, services.Services(
        connections=db.ThreadConnections(config["DATABASE"]), store=store, signer=signer,
        metrics=metrics, providers=providers, http=http, images=images, status=status,
        worker=worker, submissions=submissions))


def _register_web(app):
    from tryon import backup, cli
    from tryon.web import api, database, errors, files, health, metrics, ratelimit, security

    database.init_app(app)
    cli.init_app(app)
    backup.init_app(app)
    errors.register_error_handlers(app)
    metrics.init_app(app)
    security.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(health.bp)
    services.of(app).limiter = ratelimit.init_app(app)
    _register_dashboard(app)


def _register_dashboard(app):
    """The browser side: sessions and CSRF (auth), pages, docs and the OpenAPI document."""
    from tryon.dashboard import admin, auth, pages
    from tryon.web import docs, openapi

    auth.init_app(app)  # after ratelimit.init_app: it limits logins with the app's Limiter
    app.register_blueprint(pages.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(openapi.bp)

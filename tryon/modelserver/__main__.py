"""`python -m tryon.modelserver`: parse the settings, build the model server, serve HTTP
until SIGTERM/SIGINT (a clean stop: the running job finishes first) or a fatal error (the
model could not be made ready, or the GPU broke), which exits non-zero so that systemd
restarts the process."""
import logging
import os
import signal
import sys
import threading
from functools import partial

from .app import create_app
from .http_server import build_http_server
from .models import MODEL_NAMES, model_spec
from .server import ModelServer
from .settings import parse_settings

log = logging.getLogger("tryon.modelserver")
EXIT_FATAL = 3
STOP_WAIT_SECONDS = 120


def main(argv=None):
    settings = parse_settings(argv, MODEL_NAMES)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s "
                        "%(message)s")
    options = {"lightning_steps": settings.lightning_steps} if settings.lightning_steps else {}
    try:
        spec = model_spec(settings.model, **options)
    except ValueError as exc:
        sys.exit(f"python -m tryon.modelserver: {exc}")
    fatal = []

    def on_fatal(message):
        fatal.append(message)
        threading.Thread(target=http.shutdown, name="shutdown", daemon=True).start()

    server = ModelServer(settings, spec, fetch=_fetcher(settings), place=_placer(settings),
                         on_fatal=on_fatal, face_keeper=_face_keeper(settings, spec))
    http = build_http_server(create_app(server), settings.host, settings.port)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: threading.Thread(target=http.shutdown,
                                                          daemon=True).start())
    host, port = http.server_address[:2]
    log.info("model server for %s listening on http://%s:%d%s", spec.name, host, port,
             " (a tiny random model: its pictures are noise)" if spec.noise else "")
    server.start()
    try:
        http.serve_forever()
    finally:
        http.server_close()
    if fatal:
        log.error("the model server stops (exit status %d): %s", EXIT_FATAL, fatal[0])
        logging.shutdown()
        os._exit(EXIT_FATAL)    # a wedged device thread must not keep the process alive
    server.stop(timeout=STOP_WAIT_SECONDS)
    return 0


def _fetcher(settings):
    from .weights import extra_folders, fetch_weights

    def fetch(spec, progress):
        folder = fetch_weights(spec, model_path=settings.model_path,
                               cache_dir=settings.cache_dir, offline=settings.offline,
                               progress=progress)
        return folder, extra_folders(spec, cache_dir=settings.cache_dir)
    return fetch


def _placer(settings):
    from .devices import choose_placement
    return partial(choose_placement, device=settings.device, offload=settings.offload)


def _face_keeper(settings, spec):
    if settings.keep_face == "off" or (settings.keep_face == "auto" and spec.noise):
        return None
    from tryon.engine.models import DEFAULT_MODELS_DIR

    from .faces import FaceKeeper
    return FaceKeeper(DEFAULT_MODELS_DIR)


if __name__ == "__main__":
    sys.exit(main())

"""Getting the model ready in the background while the HTTP server already answers:
download the weights, load the pipeline onto its device, warm it up. /readyz reports the
stage and its progress; requests that need the model get 503 until it is ready.

The ModelLoader runs on the generation thread, before its first job. A failure (weights
missing offline, a bad model folder, no CUDA) is a startup error: it is recorded for /readyz
and the log, and the process exits non-zero with the message, which names the fix.
"""
import logging
import threading
import time
from enum import StrEnum

log = logging.getLogger("tryon.modelserver")


class Stage(StrEnum):
    DOWNLOADING = "downloading"
    LOADING = "loading"
    WARMING = "warming"
    READY = "ready"
    FAILED = "failed"


class Readiness:
    """The loading stage, its progress (0..1) and, once ready, the loaded model."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.stage = Stage.DOWNLOADING
        self.progress = 0.0
        self.error = None
        self.model = None

    def advance(self, stage, progress=0.0):
        with self._lock:
            self.stage, self.progress = stage, progress

    def report_progress(self, fraction, detail=None):
        with self._lock:
            self.progress = max(self.progress, min(1.0, float(fraction)))

    def became_ready(self, model):
        with self._lock:
            self.model, self.stage, self.progress = model, Stage.READY, 1.0
        self._ready.set()

    def failed(self, message):
        with self._lock:
            self.stage, self.error = Stage.FAILED, message

    def snapshot(self):
        """(stage, progress, error) read together."""
        with self._lock:
            return self.stage, self.progress, self.error

    def wait_ready(self, timeout):
        return self._ready.wait(timeout)


class ModelLoader:
    """Runs fetch → load → warm up once, reporting each stage to `readiness`.

    The generation thread calls run() before its first job: torch runs a model markedly
    slower (a fifth, measured on the CPU) on a thread other than the one that built it, and a
    CUDA context belongs to the thread that made it, so the model is built where it will run.
    `fetch(spec, progress)` returns (the weights folder or None, {extra name: folder}),
    `place(spec)` the Placement; both are passed in so that tests and other set-ups can swap
    them.
    """

    def __init__(self, spec, readiness, *, fetch, place):
        self.spec = spec
        self.readiness = readiness
        self._fetch = fetch
        self._place = place

    def run(self):
        """The ready model; None when it could not be made ready (readiness says why)."""
        started = time.monotonic()
        try:
            model = self._load()
        except Exception as exc:  # any failure here is fatal for the server: report it whole
            message = f"could not get {self.spec.name} ready: {exc}"
            log.error("%s", message)
            self.readiness.failed(message)
            return None
        self.readiness.became_ready(model)
        noise = " (a tiny random model: its pictures are noise)" if self.spec.noise else ""
        log.info("%s ready on %s (%s, offload %s) in %.1f s%s", self.spec.name,
                 model.placement.device, model.placement.dtype, model.placement.offload,
                 time.monotonic() - started, noise)
        return model

    def _load(self):
        readiness = self.readiness
        # The device first: a machine that cannot run the model fails before any download.
        placement = self._place(self.spec)
        readiness.advance(Stage.DOWNLOADING)
        weights, extras = self._fetch(self.spec, readiness.report_progress)
        readiness.advance(Stage.LOADING)
        log.info("loading %s onto %s (%s, offload %s)", self.spec.name, placement.device,
                 placement.dtype, placement.offload)
        model = self.spec.load(weights, placement, extra_dirs=extras)
        readiness.advance(Stage.WARMING)
        model.warm_up()
        return model

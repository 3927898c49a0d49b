"""One model server: its parts built from the settings and wired together, started and
stopped in order. `__main__` serves it over HTTP; tests build it with a fake model spec."""
import logging
import threading

from tryon.media.safe_http import AddressPolicy, SafeHttp

from .generation import GenerationWorker, ResultFinisher
from .inputs import InputReader
from .jobs import JobBook
from .readiness import ModelLoader, Readiness
from .results import ResultFolder

log = logging.getLogger("tryon.modelserver")


class Janitor:
    """Every `interval` seconds: delete expired results and forget the jobs they belong to."""

    def __init__(self, book, results, interval):
        self.book = book
        self.results = results
        self.interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="janitor", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self._thread.join()

    def sweep(self):
        files = self.results.sweep()
        jobs = self.book.forget_finished(self.results.ttl)
        if files or jobs:
            log.info("expired %d results and %d jobs", files, jobs)

    def _run(self):
        while not self._stopping.wait(self.interval):
            try:
                self.sweep()
            except OSError:
                log.exception("sweeping the results folder failed")


class ModelServer:
    """The parts of a running model server.

    `fetch(spec, progress)` and `place(spec)` get the weights and choose the device;
    `face_keeper` (or None) puts the person's face back; `on_fatal(message)` is called from
    a background thread when the server cannot go on (the model did not load, the device
    broke); __main__ then stops serving and exits non-zero.
    """

    def __init__(self, settings, spec, *, fetch, place, on_fatal, face_keeper=None):
        self.settings = settings
        self.spec = spec
        self.book = JobBook(settings.max_queue)
        self.readiness = Readiness()
        self.results = ResultFolder(settings.results_dir, settings.result_ttl)
        fetcher = SafeHttp(AddressPolicy(settings.url_allow), user_agent="tryon-modelserver")
        self.reader = InputReader(fetcher, max_bytes=settings.max_request_bytes,
                                  max_pixels=settings.max_input_pixels,
                                  timeout=settings.fetch_timeout)
        loader = ModelLoader(spec, self.readiness, fetch=fetch, place=place)
        self.worker = GenerationWorker(self.book, loader,
                                       ResultFinisher(self.results, face_keeper),
                                       on_fatal=on_fatal)
        self.janitor = Janitor(self.book, self.results,
                               interval=min(60.0, settings.result_ttl / 4))

    def start(self):
        self.janitor.sweep()    # results left by an earlier run
        self.worker.start()     # loads the model first
        self.janitor.start()
        return self

    def stop(self, timeout=None):
        self.worker.stop(timeout)
        self.janitor.stop()

    def info(self):
        stage, progress, _ = self.readiness.snapshot()
        model = self.readiness.model
        placement = model.placement if model is not None else None
        return {
            "model": self.spec.name,
            "revision": self.spec.revision,
            "licence": self.spec.licence,
            "commercialUse": self.spec.commercial_use,
            "noise": self.spec.noise,
            "state": stage.value,
            "progress": round(progress, 3),
            "device": placement.device if placement else None,
            "dtype": placement.dtype if placement else None,
            "offload": placement.offload if placement else None,
            "memoryBytes": model.memory_bytes() if model is not None else 0,
            "maxQueue": self.settings.max_queue,
            **self.book.counts(),
        }

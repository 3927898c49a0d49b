"""The only thread that touches the GPU, and the writer that finishes its pictures.

The generation thread first loads the model (readiness.ModelLoader), then takes one queued
job at a time (batch size 1: diffusers shares the reference images across a batch, so two
jobs cannot share a call), runs the model and hands
the raw picture to the writer, which scales it to the person photo's size, optionally puts
the person's own face back, encodes the JPEG and stores it, while the GPU already runs the next
job. Failures are sorted by the model (FailureKind): a job's own failure or an out-of-memory
error fails that job and the server goes on; a broken device stops the server (`on_fatal`),
so that systemd restarts the process.
"""
import io
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from .models.base import FailureKind, GenerationError

log = logging.getLogger("tryon.modelserver")
OUT_OF_MEMORY_MESSAGE = "out of GPU memory; try a smaller photo, or run with --offload model"


def error_body(code, message, name=None):
    return {"code": code, "name": name or code, "message": message}


class ResultFinisher:
    """Raw model output → the stored JPEG at the person photo's size."""

    def __init__(self, results, face_keeper=None):
        self.results = results
        self.face_keeper = face_keeper

    def finish(self, job_id, picture, person):
        if picture.size != person.size:
            picture = picture.convert("RGB").resize(person.size, Image.LANCZOS)
        if self.face_keeper is not None:
            picture, info = self.face_keeper.keep_face(picture, person)
            log.debug("job %s face: %s", job_id, info)
        out = io.BytesIO()
        # A photo, so a JPEG: at quality 95 without chroma subsampling (garment edges keep
        # their colour) it is visually lossless, and a 1 MP picture encodes in 4 ms to 130 KB
        # where PNG takes 29 ms and 390 KB (the API keeps and serves it as it comes).
        picture.save(out, format="JPEG", quality=95, subsampling=0)
        return self.results.write(job_id, out.getvalue())


class GenerationWorker:
    def __init__(self, book, loader, finisher, *, on_fatal, clock=time.monotonic):
        self.book = book
        self.loader = loader
        self.finisher = finisher
        self._on_fatal = on_fatal
        self._clock = clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="generation", daemon=True)
        # One writer: encoding overlaps the next generation, and results stay in job order.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="result-writer")

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout=None):
        """Stop taking jobs; wait for the running one and the writes in hand."""
        self._stopping.set()
        self.book.close()
        self._thread.join(timeout)
        self._writer.shutdown(wait=True)

    def _run(self):
        model = self.loader.run()
        if model is None:
            self._on_fatal(self.loader.readiness.error)
            return
        while not self._stopping.is_set():
            job = self.book.next_job(timeout=0.5)
            if job is not None and not self._generate(model, job):
                return

    def _generate(self, model, job):
        """Run one job; False when the device is broken and the server must stop."""
        inputs = job.inputs
        started = self._clock()
        try:
            picture = model.generate(inputs)
        except GenerationError as exc:
            self._failed(job, started, error_body(exc.code, exc.message, exc.name))
            return True
        except Exception as exc:  # sorted by the model: only a broken device stops us
            return self._generation_raised(model, job, started, exc)
        self.book.generated(job, self._clock() - started)
        self._writer.submit(self._write, job, picture, inputs.person)
        return True

    def _generation_raised(self, model, job, started, exc):
        kind = model.failure_kind(exc)
        if kind == FailureKind.OUT_OF_MEMORY:
            log.warning("job %s: out of GPU memory (%s)", job.id, exc)
            self._failed(job, started, error_body("GENERATION_FAILED", OUT_OF_MEMORY_MESSAGE,
                                                  "OutOfMemoryError"))
            model.release_memory()
            return True
        log.exception("job %s failed", job.id)
        self._failed(job, started, error_body("GENERATION_FAILED", f"the model failed: {exc}",
                                              type(exc).__name__))
        if kind == FailureKind.FATAL:
            self._on_fatal(f"the device failed ({type(exc).__name__}: {exc})")
            return False
        return True

    def _failed(self, job, started, error):
        self.book.generated(job, self._clock() - started)
        self.book.fail(job, error)

    def _write(self, job, picture, person):
        try:
            name = self.finisher.finish(job.id, picture, person)
        except Exception as exc:  # a full disk must fail the job, not lose it
            log.exception("job %s: could not store the result", job.id)
            self.book.fail(job, error_body("GENERATION_FAILED",
                                           f"the result could not be stored: {exc}"))
            return
        self.book.complete(job, name)

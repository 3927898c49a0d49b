"""A fake model for the model server's core: it speaks the LoadedModel interface, paints a
picture from its inputs (so tests can tell jobs apart), and can be held, failed or made to
run out of memory on demand. Also a server fixture builder on a temporary results folder."""
import base64
import io
import threading

from PIL import Image

from tryon.modelserver.models.base import (
    FailureKind,
    LoadedModel,
    ModelSpec,
    Placement,
    generation_size,
)
from tryon.modelserver.server import ModelServer
from tryon.modelserver.settings import ServerSettings


class FakeOutOfMemory(RuntimeError):
    pass


class FakeDeviceLost(RuntimeError):
    pass


class FakeModel(LoadedModel):
    def __init__(self, spec, placement):
        super().__init__(spec, placement)
        self.calls = []                       # the TryOnInput of each generate()
        self.release = threading.Event()      # cleared: generate() waits for it
        self.release.set()
        self.started = threading.Semaphore(0)  # released as each generate() begins
        self.failures = []                    # exceptions to raise, one per call, in order
        self.memory_released = 0

    def generate(self, tryon_input):
        self.started.release()
        if not self.release.wait(timeout=30):
            raise TimeoutError("the test never released the fake model")
        self.calls.append(tryon_input)
        if self.failures:
            raise self.failures.pop(0)
        size = generation_size(*tryon_input.person.size)
        shade = (tryon_input.seed or 0) % 256
        return Image.new("RGB", size, (shade, 100, 200))

    def warm_up(self):
        pass    # the fake has nothing to warm; the calls list stays the jobs' own

    def memory_bytes(self):
        return 1234

    def failure_kind(self, exc):
        if isinstance(exc, FakeOutOfMemory):
            return FailureKind.OUT_OF_MEMORY
        if isinstance(exc, FakeDeviceLost):
            return FailureKind.FATAL
        return FailureKind.JOB

    def release_memory(self):
        self.memory_released += 1


class FakeSpec(ModelSpec):
    name = "fake"
    revision = "0123abcd"
    licence = "test-only"

    def __init__(self):
        self.loaded = None

    def load(self, weights_dir, placement, extra_dirs=None):
        self.loaded = FakeModel(self, placement)
        return self.loaded


CPU = Placement(device="cpu", dtype="float32", offload="none")


class Fatal:
    """Records on_fatal calls."""

    def __init__(self):
        self.messages = []

    def __call__(self, message):
        self.messages.append(message)


def build_server(tmp_path, *, fetch=None, spec=None, **settings):
    spec = spec or FakeSpec()
    settings.setdefault("results_dir", tmp_path / "results")
    fatal = Fatal()
    server = ModelServer(ServerSettings(**settings), spec,
                         fetch=fetch or (lambda spec, progress: (None, {})),
                         place=lambda spec: CPU, on_fatal=fatal)
    server.fatal = fatal
    return server


def jpeg_data_uri(size=(96, 128), colour=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def jpeg_bytes(size=(96, 128), colour=(200, 30, 30)):
    return base64.b64decode(jpeg_data_uri(size, colour).partition(",")[2])

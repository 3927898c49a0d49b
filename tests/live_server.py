"""A real server process for end-to-end tests: `python -m tests.live_server`.

Builds the app from TRYON_* environment variables, registers the `test-slow` provider (it
sleeps TEST_PROVIDER_DELAY seconds, then returns a tinted copy of the person image, or fails
with INVALID_PERSON_IMAGE when the person image is black (so browser tests can watch a job
fail), and appends one line per call to <instance>/provider-calls.log), starts the job worker and
serves on 127.0.0.1 with a free port, printed as "PORT <n>" once it listens.
"""
import io
import os
import sys
import time

from PIL import Image
from werkzeug.serving import make_server

from tryon import create_app, services
from tryon.errors import INVALID_PERSON_IMAGE
from tryon.providers import GenerationResult, Provider, ProviderError


class SlowTestProvider(Provider):
    name = "test-slow"

    def __init__(self, delay, calls_log):
        self.delay = delay
        self.calls_log = calls_log

    def generate(self, request, context):
        with open(self.calls_log, "a") as log:
            log.write(request.job_id + "\n")
        time.sleep(self.delay)  # stands in for a model that takes time
        person = Image.open(io.BytesIO(request.person.data)).convert("RGB")
        if max(high for _, high in person.getextrema()) < 16:
            raise ProviderError(INVALID_PERSON_IMAGE, "No person in a black picture.")
        tinted = Image.blend(person, Image.new("RGB", person.size, (0, 160, 0)), 0.3)
        out = io.BytesIO()
        tinted.save(out, format="PNG")
        return GenerationResult(image=out.getvalue())


def main():
    app = create_app()
    delay = float(os.environ.get("TEST_PROVIDER_DELAY", "0"))
    calls_log = os.path.join(app.instance_path, "provider-calls.log")
    services.of(app).providers.register(
        "test-slow", lambda config: SlowTestProvider(delay, calls_log))
    services.of(app).worker.start()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

"""The app the service benchmarks run: wsgi.py's app plus an `instant` provider and a bare
upload endpoint (parses the multipart body, nothing else) to compare submits against."""
import time

from flask import jsonify, request

from tryon import create_app, services
from tryon.providers import GenerationResult, Provider


class InstantProvider(Provider):
    """Returns the person image at once: what remains is the service's own overhead."""
    name = "instant"

    def generate(self, request, context):
        started = time.perf_counter()
        image = request.person.data
        # Its own time, kept in the job's result, so bench_queue.py can subtract it.
        return GenerationResult(image=image, metadata={
            "benchProviderMs": (time.perf_counter() - started) * 1000})


def build():
    app = create_app()
    services.of(app).providers.register("instant", lambda config: InstantProvider())

    @app.post("/bench/upload")
    def bare_upload():
        sizes = {name: len(f.read()) for name, f in request.files.items()}
        return jsonify(sizes), 202

    csrf = app.extensions.get("csrf")       # the dashboard's CSRF protection, if installed
    if csrf is not None:
        csrf.exempt(bare_upload)

    services.of(app).worker.start()
    return app


app = build()

"""Rate limits on the API, per authenticated API key, with flask-limiter.

Each app gets its own Limiter (no state shared between apps). The limited views are
wrapped here, by endpoint name, with limits read from the config at request time.
"""
from flask import current_app
from flask_limiter import Limiter

from .api import rate_limit_bucket

# Writes share the submit limit's setting, reads the status limit's; each endpoint counts
# on its own.
LIMITED_ENDPOINTS = {
    "api.submit": "RATE_LIMIT_SUBMIT",
    "api.cancel": "RATE_LIMIT_SUBMIT",
    "api.delete": "RATE_LIMIT_SUBMIT",
    "api.status": "RATE_LIMIT_STATUS",
    "api.list_jobs": "RATE_LIMIT_STATUS",
    "api.credits": "RATE_LIMIT_STATUS",
}


def init_app(app):
    limiter = Limiter(
        key_func=rate_limit_bucket,
        app=app,
        storage_uri=app.config["RATE_LIMIT_STORAGE_URI"],
        headers_enabled=True,
        strategy="fixed-window",
    )
    for endpoint, setting in LIMITED_ENDPOINTS.items():
        view = app.view_functions[endpoint]
        decorate = limiter.limit(_limit_from_config(setting), scope=endpoint)
        app.view_functions[endpoint] = decorate(view)
    app.extensions["tryon.limiter"] = limiter
    return limiter


def _limit_from_config(setting):
    return lambda: current_app.config[setting]

"""Security headers on every response.

The API, /files/ and the health and metrics endpoints never render HTML, so they get the
strictest policy; the dashboard's pages get a content security policy that allows only our
own scripts, styles and images. A service whose public address (TRYON_PUBLIC_BASE_URL) is
https also tells browsers to use nothing but https for it (HSTS).

No CORS headers, on purpose: an API key in a browser page is a leaked key, so pages of
other origins must not be able to read API answers.
"""
from flask import request

# Paths that only programs call. ratelimit.py keeps them out of the dashboard's limits.
MACHINE_PATHS = ("/api/", "/files/", "/livez", "/healthz", "/metrics")

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
               "script-src 'self'; connect-src 'self'; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'self'; object-src 'none'")


# One year; not includeSubDomains: other hosts under the same domain are not ours to pin.
HSTS_POLICY = "max-age=31536000"


def _add_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    machine_facing = request.path.startswith(MACHINE_PATHS)
    headers.setdefault("Content-Security-Policy", API_POLICY if machine_facing else PAGE_POLICY)
    return response


def _add_hsts(response):
    response.headers.setdefault("Strict-Transport-Security", HSTS_POLICY)
    return response


def init_app(app):
    app.after_request(_add_headers)
    if (app.config["PUBLIC_BASE_URL"] or "").startswith("https://"):
        app.after_request(_add_hsts)

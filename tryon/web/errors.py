"""The one JSON error shape of the API, and the error handlers of the app.

Under /api/ and /files/ every error is {"error": ..., "errorCode": ...}; dashboard pages get
the app's layout with a way back; the machine paths (/livez, /healthz, /metrics) keep
werkzeug's plain answers.
"""
from flask import current_app, jsonify, render_template, request

from tryon.errors import HTTP_ERROR_CODES, INTERNAL_ERROR, ApiError
from tryon.web.security import MACHINE_PATHS


def error_response(status, message, error_code=None, headers=None):
    """The one JSON error shape of the API: {"error": ..., "errorCode": ...}."""
    body = {"error": message, "errorCode": error_code or HTTP_ERROR_CODES.get(status, "ERROR")}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app):
    """JSON errors for every path under /api/ (404, 405, 413, 429 and 500 included)."""
    from werkzeug.exceptions import HTTPException, InternalServerError

    def wants_json():
        # The API and signed files always; dashboard pages when their script asks for JSON
        # (the playground's upload, whose 413 it shows to the user).
        return request.path.startswith(("/api/", "/files/")) or \
            request.accept_mimetypes.best == "application/json"

    @app.errorhandler(ApiError)
    def api_error(exc):
        return error_response(exc.status, exc.message, exc.error_code, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        if not wants_json():
            return exc if request.path.startswith(MACHINE_PATHS) else _error_page(exc)
        return error_response(exc.code, _http_message(exc),
                              headers=_protocol_headers(exc, request.environ))

    @app.errorhandler(Exception)
    def unexpected_error(exc):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if not wants_json():
            return InternalServerError()
        return error_response(500, "An unexpected server error occurred.", INTERNAL_ERROR)


def _protocol_headers(exc, environ):
    """The headers the exception adds for the caller (Allow on 405, WWW-Authenticate on
    401, Retry-After on 429/503, Content-Range on 416), without those that describe its
    HTML page: that page's Content-Type and Content-Length on our JSON body made a
    malformed response (a declared length longer than the body)."""
    return {name: value for name, value in exc.get_headers(environ)
            if name.lower() not in ("content-type", "content-length")}


# Titles and texts of the dashboard's error pages; other codes show Werkzeug's own words.
_PAGE_TEXTS = {
    403: ("Not allowed", "This page is for admins only."),
    404: ("Page not found", "There is no such page, or it belongs to another account."),
}


def _error_page(exc):
    """A dashboard error in the app's layout (navigation, a way back), not Werkzeug's bare
    page; the headers Werkzeug would send (Allow on a 405, Retry-After) are kept."""
    title, message = _PAGE_TEXTS.get(exc.code, (exc.name, exc.description))
    return (render_template("error.html", title=title, message=message), exc.code,
            _protocol_headers(exc, request.environ))


def _http_message(exc):
    messages = {
        404: "Not found.",
        405: "Method not allowed on this path.",
        413: "The request is too large.",
        429: "Too many requests: rate limit exceeded",
    }
    message = messages.get(exc.code, exc.name + ".")
    if exc.code == 413:
        limit_mb = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
        message = (f"The request is too large: at most {limit_mb:g} MB "
                   f"(TRYON_MAX_UPLOAD_MB) and {current_app.config['MAX_FORM_PARTS']} form parts.")
    if exc.code == 429 and exc.description:
        message = f"{message} ({exc.description})."
    return message

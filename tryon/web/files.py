"""/files/<objectKey>: objects of the store behind time-limited HMAC-signed URLs."""
from flask import Blueprint, current_app, request, send_file

from tryon import services
from tryon.errors import ApiError
from tryon.store.objects import InvalidKey

bp = Blueprint("files", __name__)

MIMETYPES = {"png": "image/png", "jpg": "image/jpeg"}


@bp.get("/files/<path:key>")
def serve(key):
    signer = services.of(current_app).signer
    if not signer.verify(key, request.args.get("expires"), request.args.get("signature")):
        raise ApiError(403, "This link is invalid or has expired; ask the API for a fresh one.",
                       "INVALID_SIGNATURE")
    store = services.of(current_app).store
    try:
        path = store.path_for(key)
    except InvalidKey:
        raise ApiError(404, "No such file.") from None
    if not path.is_file():
        raise ApiError(404, "This file is no longer available.", "RESULT_UNAVAILABLE")
    extension = path.suffix.lstrip(".")
    response = send_file(path, mimetype=MIMETYPES.get(extension, "application/octet-stream"),
                         max_age=0, conditional=True, etag=True)
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response

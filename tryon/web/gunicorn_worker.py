"""gunicorn's threaded worker, answering the requests gunicorn refuses for their size with
the API's JSON error shape instead of gunicorn's HTML page.

A request line or a header longer than gunicorn.conf.py's limits (or too many headers)
never reaches the app: gunicorn answers 414 or 431 itself. The README promises JSON errors
under /api/, and the path of such a request is not even known when its line was cut off,
so these answers are JSON whatever the path. Every other error keeps gunicorn's handling.
gunicorn.conf.py names this class as its worker_class.
"""
import json

from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import ThreadWorker

from tryon.errors import HTTP_ERROR_CODES
from tryon.web.security import API_POLICY


class JsonRefusalsThreadWorker(ThreadWorker):
    def handle_error(self, req, client, addr, exc):
        refusal = _refusal(exc, self.cfg)
        if refusal is None:
            super().handle_error(req, client, addr, exc)
            return
        self.log.warning("Refused request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            write_nonblock(client, refusal)
        except OSError:
            self.log.debug("Failed to send the refusal of an oversized request.")


def _refusal(exc, cfg):
    """The whole HTTP response for a request refused for its size, or None for others."""
    if isinstance(exc, LimitRequestLine):
        return _json_response(414, "URI Too Long", (
            f"The request line (method, path and query) is longer than "
            f"{cfg.limit_request_line} bytes."))
    if isinstance(exc, LimitRequestHeaders):
        return _json_response(431, "Request Header Fields Too Large", (
            f"A request header is longer than {cfg.limit_request_field_size} bytes, or "
            f"there are more than {cfg.limit_request_fields} of them."))
    return None


def _json_response(status, reason, message):
    body = json.dumps({"error": message, "errorCode": HTTP_ERROR_CODES[status]}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            f"Content-Security-Policy: {API_POLICY}\r\n"
            "\r\n")
    return head.encode("latin-1") + body

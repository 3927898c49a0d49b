"""A scriptable HTTP server on 127.0.0.1 for provider tests, and a clock that never waits.

Each provider's test module subclasses FakeServer with the provider's documented protocol
(`route`). Tests inspect `requests` (what we sent) and queue one-off answers with `script`
(a 401, a 429 with Retry-After, a 500, malformed JSON, a hang) for the next matching calls.
"""
import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from PIL import Image

from tests.loopback import LoopbackServer

HANG_LIMIT = 10  # seconds a hung answer waits at most (it is released when the server stops)


@dataclass
class Reply:
    status: int = 200
    body: object = None                    # dict/list -> JSON; str/bytes -> sent as is
    headers: dict = field(default_factory=dict)
    hang: bool = False                     # never answer (until the server stops)


@dataclass
class Recorded:
    method: str
    path: str            # without the query string, which is in `query`
    headers: dict
    body: object
    query: str = ""


class FakeServer(LoopbackServer):
    def __init__(self):
        self.requests = []
        self._scripted = []     # [method, path prefix, Reply, times left]
        self._lock = threading.Lock()
        self._released = threading.Event()
        super().__init__(self._handler_class())

    def stop(self):
        self._released.set()  # hung answers return now
        super().stop()

    def script(self, method, path_prefix, reply, times=1):
        """Answer the next `times` requests matching method and path prefix with `reply`."""
        with self._lock:
            self._scripted.append([method, path_prefix, reply, times])

    def calls(self, method, path_prefix=""):
        with self._lock:
            return [r for r in self.requests if r.method == method
                    and r.path.startswith(path_prefix)]

    def route(self, method, path, body, headers):
        """The protocol's normal answer (a Reply); subclasses implement it."""
        raise NotImplementedError

    # --- plumbing ------------------------------------------------------------------------

    def _answer(self, method, path, body, headers, query=""):
        with self._lock:
            self.requests.append(Recorded(method, path, headers, body, query))
            for entry in self._scripted:
                if entry[0] == method and path.startswith(entry[1]) and entry[3] > 0:
                    entry[3] -= 1
                    return entry[2]
        return self.route_with_query(method, path, body, headers, query)

    def route_with_query(self, method, path, body, headers, query):
        """route() for protocols whose answers depend on the query string."""
        return self.route(method, path, body, headers)

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

            def _handle(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                path, _, query = self.path.partition("?")
                reply = fake._answer(method, path, body, dict(self.headers), query)
                if reply.hang:
                    fake._released.wait(HANG_LIMIT)
                    return
                if isinstance(reply.body, (dict, list)):
                    payload, kind = json.dumps(reply.body).encode(), "application/json"
                elif isinstance(reply.body, str):
                    payload, kind = reply.body.encode(), "application/json"
                else:
                    payload, kind = reply.body or b"", "application/octet-stream"
                self.send_response(reply.status)
                headers = {"Content-Type": kind, **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


class FastTiming:
    """A clock for RemoteHttp that never really waits: sleep() only moves the clock ahead
    (so back-off still counts toward the job's deadline) and records how long it was asked
    to wait."""

    def __init__(self):
        self._real = time.monotonic
        self._offset = 0.0
        self.sleeps = []
        self._lock = threading.Lock()

    def monotonic(self):
        with self._lock:
            return self._real() + self._offset

    def sleep(self, seconds):
        with self._lock:
            self.sleeps.append(seconds)
            self._offset += seconds

    def jitter(self):
        return 0.5


def png_bytes(size=(48, 64), color=(20, 160, 90)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def decode_data_uri(uri):
    """The image a data URI carries (asserting it is a base64 JPEG)."""
    prefix = "data:image/jpeg;base64,"
    assert uri.startswith(prefix), uri[:40]
    return Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):])))

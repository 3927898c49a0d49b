"""A tiny HTTP server on 127.0.0.1 for tests: serves images, redirects and slow or huge
answers for URL inputs, and records webhook POSTs."""
import collections
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.loopback import LoopbackServer


class LocalHttpServer(LoopbackServer):
    def __init__(self):
        self.routes = {}          # path -> (status, headers dict, body bytes)
        self.received = []        # (path, headers, body) of POSTs
        self.post_statuses = []   # statuses to answer POSTs with, in order (then 200)
        self.received_event = threading.Condition()
        self.drips = {}           # path -> seconds between the bytes of a trickled answer
        self.hits = collections.Counter()   # GETs per path
        self.dripping = threading.Semaphore(0)  # released once per trickled answer begun
        super().__init__(self._handler())

    def add(self, path, body=b"", status=200, headers=None):
        self.routes[path] = (status, headers or {"Content-Type": "image/jpeg"}, body)

    def add_drip(self, path, interval=1.0):
        """Answer `path` with an image's headers at once, then one byte every `interval`
        seconds (a server that holds a download open), until the client goes away."""
        self.drips[path] = interval

    def wait_for_drips(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        for _ in range(count):
            if not self.dripping.acquire(timeout=max(0, deadline - time.monotonic())):
                raise AssertionError(f"fewer than {count} trickled answers began")

    def wait_for_posts(self, count, timeout=10):
        with self.received_event:
            if not self.received_event.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"expected {count} POSTs, got {len(self.received)}")
        return list(self.received)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] += 1
                if self.path in server.drips:
                    return self._drip(server.drips[self.path])
                status, headers, body = server.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _drip(self, interval):
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", "20000")
                self.end_headers()
                server.dripping.release()
                try:
                    for _ in range(20000):
                        self.wfile.write(b"\xff")
                        self.wfile.flush()
                        time.sleep(interval)
                except OSError:  # the client gave up: what a trickle is for
                    pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server.received_event:
                    status = server.post_statuses.pop(0) if server.post_statuses else 200
                    server.received.append((self.path, dict(self.headers), body))
                    server.received_event.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

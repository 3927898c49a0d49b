"""A tiny HTTP server on 127.0.0.1 for tests: serves images, redirects and slow or huge
answers for URL inputs, and records webhook POSTs."""
import threading
from http.server import BaseHTTPRequestHandler

from tests.loopback import LoopbackServer


class LocalHttpServer(LoopbackServer):
    def __init__(self):
        self.routes = {}          # path -> (status, headers dict, body bytes)
        self.received = []        # (path, headers, body) of POSTs
        self.post_statuses = []   # statuses to answer POSTs with, in order (then 200)
        self.received_event = threading.Condition()
        super().__init__(self._handler())

    def add(self, path, body=b"", status=200, headers=None):
        self.routes[path] = (status, headers or {"Content-Type": "image/jpeg"}, body)

    def wait_for_posts(self, count, timeout=10):
        with self.received_event:
            if not self.received_event.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"expected {count} POSTs, got {len(self.received)}")
        return list(self.received)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, headers, body = server.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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

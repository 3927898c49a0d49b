"""The guarded HTTP client against servers that never finish: a URL input that trickles
its bytes, a webhook receiver whose answer never ends. Neither may hold a thread past
its time limit."""
import time
from http.server import BaseHTTPRequestHandler

import pytest

from tests.loopback import LoopbackServer
from tryon.media.safe_http import AddressPolicy, FetchFailed, SafeHttp

TRICKLE_PAUSE = 0.05   # seconds between the trickled bytes
LIMIT = 1.0            # the time limit the client is given


class EndlessServer(LoopbackServer):
    """GET: a byte at a time; POST: 200, then a body that never ends. Both stop when the
    client goes away or the server stops."""

    def __init__(self):
        self.stopping = False
        super().__init__(self._handler())

    def stop(self):
        self.stopping = True
        super().stop()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._endless(b"x", TRICKLE_PAUSE, headers={"Content-Length": "1000000"})

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._endless(b"y" * 65536, 0)

            def _endless(self, piece, pause, headers=None):
                self.send_response(200)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                deadline = time.monotonic() + 30   # a bound for the test run itself
                try:
                    while not server.stopping and time.monotonic() < deadline:
                        self.wfile.write(piece)
                        self.wfile.flush()
                        time.sleep(pause)
                except OSError:
                    pass  # the client hung up, as it should

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def endless():
    server = EndlessServer().start()
    yield server
    server.stop()


def test_a_trickling_download_ends_at_its_time_limit(endless):
    http = SafeHttp(AddressPolicy("127.0.0.1"))
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="timed out"):
        http.get(endless.url + "/image.jpg", max_bytes=10_000_000, timeout=LIMIT)
    # Per-read timeouts alone let it run for the whole trickle (1 000 000 x 0.05 s).
    assert time.monotonic() - started < LIMIT + 2


def test_a_webhook_receiver_whose_answer_never_ends_does_not_hold_the_sender(endless):
    http = SafeHttp(AddressPolicy("127.0.0.1"))
    started = time.monotonic()
    response = http.post(endless.url + "/hook", body=b"{}", headers={}, timeout=LIMIT)
    assert response.status_code == 200
    assert time.monotonic() - started < LIMIT + 2

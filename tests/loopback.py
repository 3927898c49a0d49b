"""The base of the tests' HTTP servers: a ThreadingHTTPServer on a free 127.0.0.1 port,
served by a daemon thread that `stop()` ends."""
import threading
from http.server import ThreadingHTTPServer


class LoopbackServer:
    """Subclasses set up their own state first, then call this with their handler class."""

    def __init__(self, handler_class):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self._server.daemon_threads = True  # a hung answer must not keep the test run alive
        # A short poll interval makes stop() (shutdown) return quickly.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

"""Request bodies are read from the server in large blocks, whatever size the app asks for.

Werkzeug's form parser reads `wsgi.input` 64 KiB at a time. gunicorn (27.0) answers each
such read from up to 1 MiB it has received ahead, and copies everything it holds beyond
those 64 KiB into a new buffer every time, holding the GIL: it copies many times the body's
size, and under load every other thread waits meanwhile. Reading 1 MiB at a time and
handing the app its small reads from that block copies each byte once (docs/benchmarks.md,
"Submit", has the profiles).

Nothing is read before the app reads: a request refused early (no API key, 413) never
has its body pulled in, and no more than CONTENT_LENGTH is ever asked for.
"""
import io

BLOCK_SIZE = 1024 * 1024
# Werkzeug reads a body up to this size in one call anyway; wrapping it would only cost
# the block's allocation.
SMALL_BODY = 64 * 1024


class BlockReadInput:
    """WSGI middleware: give the app a `wsgi.input` that reads the server's stream in
    BLOCK_SIZE steps."""

    def __init__(self, app, block_size=BLOCK_SIZE):
        self.app = app
        self.block_size = block_size

    def __call__(self, environ, start_response):
        length = _content_length(environ)
        if length > SMALL_BODY:
            raw = _ServerStream(environ["wsgi.input"], length)
            environ["wsgi.input"] = io.BufferedReader(raw, self.block_size)
        return self.app(environ, start_response)


def _content_length(environ):
    text = environ.get("CONTENT_LENGTH", "")
    return int(text) if text.isascii() and text.isdigit() else 0


class _ServerStream(io.RawIOBase):
    """The server's `wsgi.input` as a raw stream that ends with the declared body.

    WSGI only promises `read(size)`; stopping at CONTENT_LENGTH keeps a read from waiting
    for bytes a client never sends (werkzeug's own limit sits above this, on the app side).
    """

    def __init__(self, stream, length):
        self._stream = stream
        self._remaining = length

    def readable(self):
        return True

    def readinto(self, buffer):
        size = min(len(buffer), self._remaining)
        if size <= 0:
            return 0
        data = self._stream.read(size)
        buffer[:len(data)] = data
        self._remaining -= len(data)
        return len(data)

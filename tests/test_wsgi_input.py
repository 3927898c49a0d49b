"""BlockReadInput: the app's small reads of a large body reach the server as block reads."""
import io

from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.helpers import auth
from tryon.web.wsgi_input import BLOCK_SIZE, SMALL_BODY, BlockReadInput


class RecordingStream:
    """A server's wsgi.input that remembers the size of every read asked of it."""

    def __init__(self, data):
        self._data = io.BytesIO(data)
        self.reads = []

    def read(self, size=-1):
        self.reads.append(size)
        return self._data.read(size)

    def tell(self):          # werkzeug's test client asks, to measure the body
        return self._data.tell()

    def seek(self, position, whence=io.SEEK_SET):
        return self._data.seek(position, whence)

    def unread_rest(self):
        return self._data.read()


def block_reads(length):
    """The reads a body of `length` bytes should come in: whole blocks, then the rest."""
    whole, rest = divmod(length, BLOCK_SIZE)
    return [BLOCK_SIZE] * whole + ([rest] if rest else [])


def run(body, app_reads=64 * 1024, trailing=b"", declared_length=None):
    """Serve one request whose app reads the whole body `app_reads` bytes at a time, as
    werkzeug's form parser does; return (what the app read, the server stream).
    `declared_length` is the CONTENT_LENGTH sent, by default the body's length."""
    stream = RecordingStream(body + trailing)
    received = bytearray()

    def app(environ, start_response):
        while chunk := environ["wsgi.input"].read(app_reads):
            received.extend(chunk)
        start_response("200 OK", [])
        return [b""]

    length = len(body) if declared_length is None else declared_length
    environ = {"CONTENT_LENGTH": str(length), "wsgi.input": stream}
    BlockReadInput(app)(environ, lambda status, headers: None)
    return bytes(received), stream


def test_small_reads_of_a_large_body_reach_the_server_as_block_reads():
    body = bytes(range(256)) * (3 * BLOCK_SIZE // 256 + 1000)   # a bit over 3 blocks
    received, stream = run(body)
    assert received == body
    assert stream.reads == block_reads(len(body)) == [BLOCK_SIZE] * 3 + [len(body) - 3 * BLOCK_SIZE]


def test_no_read_goes_past_the_declared_body():
    body = b"x" * (SMALL_BODY + 10)
    received, stream = run(body, trailing=b"GET /next-pipelined-request HTTP/1.1\r\n")
    assert received == body
    assert stream.unread_rest() == b"GET /next-pipelined-request HTTP/1.1\r\n"


def test_a_body_the_app_never_reads_is_not_read_from_the_server():
    stream = RecordingStream(b"x" * BLOCK_SIZE)

    def refusing_app(environ, start_response):   # e.g. a 401 before the form is parsed
        start_response("401 UNAUTHORIZED", [])
        return [b""]

    BlockReadInput(refusing_app)({"CONTENT_LENGTH": str(BLOCK_SIZE), "wsgi.input": stream},
                                 lambda status, headers: None)
    assert stream.reads == []


def test_small_and_unsized_bodies_are_handed_over_untouched():
    seen = {}

    def app(environ, start_response):
        seen["input"] = environ["wsgi.input"]
        return [b""]

    for length in ("", "12", "abc", str(SMALL_BODY)):
        stream = RecordingStream(b"")
        BlockReadInput(app)({"CONTENT_LENGTH": length, "wsgi.input": stream}, None)
        assert seen["input"] is stream, length


def test_a_client_that_stops_sending_ends_the_body_early_instead_of_hanging():
    sent = b"y" * (SMALL_BODY + 5)
    received, _ = run(sent, declared_length=2 * BLOCK_SIZE)      # declared 2 blocks, sent less
    assert received == sent


def test_the_app_reads_a_photo_sized_submit_in_block_reads(client, make_user):
    _, key = make_user()
    noisy = io.BytesIO()
    Image.effect_noise((768, 1024), 64).convert("RGB").save(noisy, "JPEG", quality=90)
    boundary, body = encode_multipart({
        field: FileStorage(io.BytesIO(noisy.getvalue()), "photo.jpg", content_type="image/jpeg")
        for field in ("person_images", "garment_images")})
    assert len(body) > 2 * SMALL_BODY
    stream = RecordingStream(body)
    response = client.post("/api/v1/tryon", input_stream=stream, content_length=len(body),
                           content_type=f"multipart/form-data; boundary={boundary}",
                           headers=auth(key))
    assert response.status_code == 202, response.get_json()
    assert stream.reads == block_reads(len(body))           # not 64 KiB steps

"""Multipart part headers that are not UTF-8 must not make the whole form disappear.

Werkzeug (3.1) decodes each part's header lines as strict UTF-8. A client that sends a
filename in Latin-1 (`filename="caf\\xe9.jpg"`, as some HTTP libraries and older browsers
do) makes that decode raise UnicodeDecodeError, a ValueError, which werkzeug's form parser
swallows by design (silent=True): the request then has no form and no files at all, and
the caller is told a field is missing. The filename plays no part in a submit, so a
header line that is not UTF-8 is read as Latin-1 (HTTP's historical header charset, which
decodes any byte) instead.

Werkzeug's MultiPartParser builds its decoder from the name `MultipartDecoder` in
werkzeug.formparser, with no hook to pass another class; `install()` points that name at
the tolerant subclass below. It changes nothing for headers that are UTF-8.
"""
from werkzeug import formparser
from werkzeug.sansio.multipart import MultipartDecoder


class TolerantMultipartDecoder(MultipartDecoder):
    """Werkzeug's decoder, reading part headers that are not UTF-8 as Latin-1."""

    def _parse_headers(self, data):
        try:
            return super()._parse_headers(data)
        except UnicodeDecodeError:
            # Latin-1 maps every byte to a character; re-encoded as UTF-8, the parent's
            # strict decode then gives exactly those characters.
            return super()._parse_headers(bytes(data).decode("latin-1").encode("utf-8"))


def install():
    """Make werkzeug's form parser use TolerantMultipartDecoder (idempotent)."""
    formparser.MultipartDecoder = TolerantMultipartDecoder

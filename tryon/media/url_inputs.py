"""Downloading a URL input in its job, after the submit has been answered.

A submit that gives a URL instead of a file is checked only for what needs no network
(SafeHttp.check_url_form) and queued at once: a download holds whoever waits on it for up
to TRYON_URL_FETCH_TIMEOUT, and request threads are few (8), so a handful of callers
whose URLs trickle one byte a second could otherwise leave every request, /livez
included, unanswered. The job's worker thread downloads it instead, through the same
guard (address checks on every hop, size and time caps), checks the content type and
normalises the image like an upload. What it cannot use fails the job (see processing.py).
"""
from tryon.media.images import ImageRejected
from tryon.media.safe_http import FetchFailed, UnsafeUrl

ACCEPTED_CONTENT_TYPES = ("image/", "application/octet-stream")
FIELDS = {"person": "person_images", "garment": "garment_images"}


def input_label(label):
    """How error messages name the person or garment input, at submit and in the job."""
    return f"{FIELDS[label]} ({label} image)"


class UrlInputFetcher:
    def __init__(self, http, normalizer, *, max_bytes, timeout):
        self.http = http                  # SafeHttp
        self.normalizer = normalizer      # ImageNormalizer: the limits uploads get
        self.max_bytes = max_bytes
        self.timeout = timeout

    def fetch(self, url, label):
        """Download and normalise the image at `url`; return a NormalizedImage or raise
        ImageRejected with a message for the caller, naming the input by `label`."""
        try:
            data, content_type = self.http.get(url, max_bytes=self.max_bytes,
                                               timeout=self.timeout)
        except (UnsafeUrl, FetchFailed) as exc:
            raise ImageRejected(f"{label}: the URL could not be used: {exc}.") from None
        if content_type and not content_type.lower().startswith(ACCEPTED_CONTENT_TYPES):
            raise ImageRejected(f"{label}: the URL gave {content_type.split(';')[0]}, "
                                "not an image.")
        return self.normalizer.normalize(data, label)

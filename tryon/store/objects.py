"""The object store on local disk, and the signed URLs that serve its objects.

Objects are addressed by key ("inputs/<jobId>/person.jpg", "results/<jobId>.png"); this
module alone turns keys into paths, and refuses any key that could leave the store.
Writes are atomic: data goes to a temporary file in the same folder, is fsynced, then
renamed into place, so a reader (or a crash) never sees half a file.
"""
import hashlib
import hmac
import os
import re
import tempfile
import time
from pathlib import Path

# Lower-case top folder, then path segments of safe characters; no "..", no absolute paths.
_KEY_PATTERN = re.compile(r"^[a-z]+(/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){1,4}$")


class StorageError(Exception):
    """The object store could not write, read or find an object."""


class InvalidKey(StorageError):
    pass


class ObjectStore:
    def __init__(self, root):
        self.root = Path(root).resolve()
        self._root_text = str(self.root)

    def path_for(self, key):
        return Path(self._path_text(key))

    def _path_text(self, key):
        # The pattern alone keeps keys inside the store: segments of [A-Za-z0-9._-] that do
        # not start with a dot, so no "..", no absolute path, no backslash. (Resolving the
        # path as well cost more than the rest of a status request: one lstat per folder.)
        if not isinstance(key, str) or not _KEY_PATTERN.match(key):
            raise InvalidKey(f"invalid object key {key!r}")
        return os.path.join(self._root_text, key)

    def put(self, key, data):
        """Write `data` under `key` atomically."""
        self.stage(data, near=key).commit(key)

    def stage(self, data, near):
        """Write `data` to a temporary file beside where `near` will live; see StagedObject."""
        folder = self.path_for(near).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if "tmp" in locals():
                _remove_quietly(tmp)
            raise StorageError(f"could not write object: {exc.strerror or exc}") from exc
        return StagedObject(self, tmp)

    def read(self, key):
        try:
            return self.path_for(key).read_bytes()
        except OSError as exc:
            raise StorageError(f"could not read {key}: {exc.strerror or exc}") from exc

    def exists(self, key):
        # os.path on a string: pathlib's objects cost more than the stat itself, and every
        # status read of a completed job asks (bench/bench_status.py).
        try:
            return os.path.isfile(self._path_text(key))
        except InvalidKey:
            return False

    def delete(self, key):
        _remove_quietly(self.path_for(key))
        folder = self.path_for(key).parent
        if folder != self.root and folder.parent != self.root:
            try:
                folder.rmdir()  # only when empty: inputs/<jobId>/ once both inputs are gone
            except OSError:
                pass


class StagedObject:
    """A fully written temporary file waiting to be renamed to its key (or discarded).

    The worker stages a result outside the database transaction (the slow part: writing
    and fsyncing) and commits it inside, once it knows it still owns the job.
    """

    def __init__(self, store, tmp_path):
        self._store = store
        self._tmp = tmp_path

    def commit(self, key):
        try:
            os.replace(self._tmp, self._store.path_for(key))
        except OSError as exc:
            self.discard()
            raise StorageError(f"could not store {key}: {exc.strerror or exc}") from exc

    def discard(self):
        _remove_quietly(self._tmp)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


EXPIRY_STEP_SECONDS = 10   # well inside verify()'s 60 s allowance for a future expiry


class UrlSigner:
    """HMAC-SHA256 signatures over (object key, expiry) for time-limited /files/ URLs."""

    def __init__(self, secret, ttl_seconds):
        self._secret = hashlib.sha256(b"tryon-file-url:" + secret.encode()).digest()
        self.ttl_seconds = ttl_seconds

    def signature(self, key, expires):
        message = f"{key}\n{expires}".encode()
        return hmac.digest(self._secret, message, "sha256").hex()

    def expiry(self, now=None):
        """When a URL signed at `now` expires: ttl_seconds later, rounded up to a multiple of
        EXPIRY_STEP_SECONDS. Every URL of one object signed within a step is then the same,
        so a finished job's status document is made once per step (api.py), not per poll."""
        expires = (now if now is not None else time.time()) + self.ttl_seconds
        return int(-(-expires // EXPIRY_STEP_SECONDS)) * EXPIRY_STEP_SECONDS

    def signed_path(self, key, now=None):
        expires = self.expiry(now)
        return f"/files/{key}?expires={expires}&signature={self.signature(key, expires)}"

    def verify(self, key, expires, signature, now=None):
        """True when the signature matches and the expiry is in the future (but not too far)."""
        now = now if now is not None else time.time()
        try:
            expires_at = int(expires)
        except (TypeError, ValueError):
            return False
        if str(expires_at) != expires or not isinstance(signature, str):
            return False
        if not now < expires_at <= now + self.ttl_seconds + 60:
            return False
        return hmac.compare_digest(self.signature(key, expires_at), signature)

"""The folder of finished pictures. Each is written whole (a temporary file renamed into
place, so a reader never sees half a picture) and deleted once older than the TTL; after a
restart, leftovers are swept on the same rule."""
import os
import re
import tempfile
import time
from pathlib import Path

RESULT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.jpg$")


class ResultFolder:
    def __init__(self, folder, ttl, clock=time.time):
        # Absolute now: Flask's send_file reads a relative path against the app's package
        # folder, not the working directory the operator meant.
        self.folder = Path(folder).resolve()
        self.ttl = ttl
        self._clock = clock
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, job_id, jpeg_bytes):
        """Store a job's picture; returns its file name."""
        name = f"{job_id}.jpg"
        descriptor, temporary = tempfile.mkstemp(dir=self.folder, prefix=".writing-")
        try:
            # No fsync: a crash forgets every job anyway (the API resubmits them), so a result
            # only has to be whole for readers while this process runs, which the rename gives.
            with os.fdopen(descriptor, "wb") as out:
                out.write(jpeg_bytes)
            os.replace(temporary, self.folder / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name

    def path(self, name):
        """The file of a result that is still kept, or None (unknown, malformed or expired)."""
        if not RESULT_NAME.match(name):
            return None
        path = self.folder / name
        try:
            age = self._clock() - path.stat().st_mtime
        except FileNotFoundError:
            return None
        return path if age <= self.ttl else None

    def sweep(self):
        """Delete results older than the TTL, and temporary files a crash left behind;
        returns how many files went."""
        removed = 0
        cutoff = self._clock() - self.ttl
        for entry in os.scandir(self.folder):
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue    # a concurrent sweep or write got there first
        return removed

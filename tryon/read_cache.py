"""The rows a status poll reads, kept in memory while their change tag holds.

A client polls a job's status every second or so, and each poll would read its API key and
the job from SQLite. Each query gives up the GIL for every step, which under load costs
more than the query itself; a copy kept here costs a dict lookup and a memory read of its
change tag (changes.py). A copy is used only while the tag it was stored under is still the
slot's value, so a write by any process is seen by the very next read, and never older
than `max_age_seconds`, the backstop for changes made outside tryon's code (the sqlite3
shell, a process killed between COMMIT and publishing its tags, a file deleted by hand):
TRYON_READ_CACHE_SECONDS, 0 for no cache.
"""
import threading
import time
from collections import OrderedDict
from typing import Any, NamedTuple


class _Copy(NamedTuple):
    tag: int
    stale_at: float
    value: Any


class ReadCache:
    # A poll comes every second or so: a thousand copies cover a thousand jobs polled at
    # once, and keep the cache under about 2 MB (a job row is one or two KB).
    def __init__(self, max_age_seconds, max_entries=1000, clock=time.monotonic):
        self.max_age_seconds = max_age_seconds
        self.max_entries = max_entries
        self.clock = clock          # tests move time with their own
        self._copies = OrderedDict()   # least recently used first
        self._lock = threading.Lock()

    def get(self, conn, key, tag_name, load):
        """The value for `key`: the kept copy while `tag_name`'s tag has not changed, else
        load(), kept unless it is None (an unknown key or job is never remembered)."""
        if self.max_age_seconds <= 0:
            return load()
        tag = conn.change_tags.tag(tag_name)  # read before loading: see changes.py
        now = self.clock()
        with self._lock:
            copy = self._copies.get(key)
            if copy is not None and copy.tag == tag and now < copy.stale_at:
                self._copies.move_to_end(key)
                return copy.value
        value = load()
        if value is not None:
            self._keep(key, _Copy(tag, now + self.max_age_seconds, value))
        return value

    def _keep(self, key, copy):
        with self._lock:
            self._copies[key] = copy
            self._copies.move_to_end(key)
            while len(self._copies) > self.max_entries:
                self._copies.popitem(last=False)

    def __len__(self):
        return len(self._copies)

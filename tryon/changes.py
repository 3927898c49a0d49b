"""Change tags: how an in-memory copy of a database row knows it is still current.

Every process that opens the database maps the same small file beside it
(`<database>-changes`): SLOTS slots of 8 bytes. A row has a name ("job:<id>", or "auth" for
everything that decides whether an API key is valid), and the name hashes to one slot. A
write transaction marks the names of the rows it changes; right after COMMIT each marked
slot gets a new random value (db.Connection). A cache (read_cache.py) stores, with each
copy, the slot's value as read *before* the copy was loaded; the copy is current while the
slot still holds that value.

Reading a slot is a plain memory read: no system call and no query, so a cached status
poll never gives up the GIL. A write from any process (the server, a CLI command, a second
server process) is seen by all of them, because they share the file's pages. Names that
share a slot only cost each other a cache miss. Random values need no lock between writers
and never come back to one a reader holds, so a cache cannot mistake an old copy for a
current one.
"""
import mmap
import os
import random
import struct
import zlib

SLOTS = 4096
_SLOT = struct.Struct("<Q")
SIZE = SLOTS * _SLOT.size


def tags_path(database_path):
    return database_path + "-changes"


class ChangeTags:
    def __init__(self, path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Growing a file to the size it already has changes nothing, so two processes
            # starting at once cannot wipe each other's tags.
            if os.fstat(fd).st_size < SIZE:
                os.ftruncate(fd, SIZE)
            self._map = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)

    def tag(self, name):
        """The slot value of `name` now."""
        return _SLOT.unpack_from(self._map, _offset(name))[0]

    def bump(self, names):
        """Give the slot of each name a new value: cached copies of those rows are stale."""
        for name in names:
            _SLOT.pack_into(self._map, _offset(name), random.getrandbits(64))

    def close(self):
        self._map.close()


def _offset(name):
    # crc32, not hash(): str hashes differ between processes.
    return zlib.crc32(name.encode()) % SLOTS * _SLOT.size

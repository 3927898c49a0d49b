"""SQLite access: connections, transactions and numbered migrations.

Request threads keep one connection each (ThreadConnections; tryon/web/database.py hands
it to a request); worker threads open their own with `connect`. Writes go through
`transaction()`, which starts with BEGIN IMMEDIATE so
that two writers never deadlock half-way through: the second waits (busy timeout) at BEGIN.
The API reads keys and jobs through a RowMemo, which SQLite's own counters keep current.
"""
import fcntl
import sqlite3
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources

BUSY_TIMEOUT_SECONDS = 30


def connect(path):
    """Open a connection configured the way all our code expects."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    conn.row_factory = sqlite3.Row
    # WAL lets readers run while a writer writes. The mode is stored in the database file,
    # so it is set once; asking again on every connection would cost a lock per request.
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL with WAL survives a killed process (kill -9) without losing committed data;
    # only a power cut can lose the last transactions, never corrupt the database.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class ThreadConnections:
    """One open connection per thread, reused across that thread's requests.

    Opening a connection (and its pragmas) costs more than a status request's queries, so
    request threads keep theirs. A connection is only ever used by the thread that made it.
    """

    def __init__(self, path):
        self._path = path
        self._local = threading.local()

    def get(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self._path)
        return conn

    def memo(self):
        """This thread's RowMemo, checked against the database now."""
        memo = getattr(self._local, "memo", None)
        if memo is None:
            memo = self._local.memo = RowMemo(self.get())
        memo.check()
        return memo


class RowMemo:
    """Rows one connection has read, kept while nothing has been committed since.

    A status poll reads its API key and its job, and under gunicorn's threads every SQLite
    step gives up the GIL: those handoffs cost more than the queries. The rule that keeps
    the rows current needs no write to say what it changed: SQLite's PRAGMA data_version
    moves when any other connection, in any process, commits, and this connection's
    total_changes when it writes itself (data_version does not count those). Any commit
    drops every kept row; that costs little where polls outnumber writes.
    """

    MAX_ROWS = 1000       # a row is a KB or two: a few MB at most per request thread

    def __init__(self, conn):
        self._conn = conn
        self._rows = {}
        self._version = None

    def check(self):
        """Drop the kept rows if anything was committed since the last check."""
        data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        version = (data_version, self._conn.total_changes)
        if version != self._version:
            self._rows.clear()
            self._version = version

    def get(self, key, load):
        """The row kept under `key`, else load()'s, kept unless it is None. Rows are as of
        the last check(): a commit by another connection since shows at the next one."""
        if self._version is None or self._conn.total_changes != self._version[1]:
            self.check()
        if key in self._rows:
            return self._rows[key]
        row = load()
        if row is not None:
            if len(self._rows) >= self.MAX_ROWS:
                self._rows.clear()
            self._rows[key] = row
        return row


@contextmanager
def transaction(conn):
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def utcnow():
    """Now as an ISO 8601 UTC timestamp with milliseconds, e.g. 2026-11-23T19:25:25.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(iso_timestamp):
    """The inverse of utcnow()."""
    return datetime.fromisoformat(iso_timestamp.replace("Z", "+00:00"))


def migration_steps():
    """The numbered migration scripts shipped in tryon/migrations, as (number, sql)."""
    steps = []
    for entry in resources.files("tryon.store.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            steps.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(steps)


def migrate(conn, lock_path):
    """Apply every migration newer than PRAGMA user_version; return the numbers applied.

    A file lock around check-and-apply makes two processes starting at once apply each step
    exactly once; each step runs in its own transaction, so a failed step changes nothing.
    """
    applied = []
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for number, sql in migration_steps():
            if schema_version(conn) >= number:
                continue
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
            except sqlite3.DatabaseError:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            applied.append(number)
    return applied


def migration_lock_path(database_path):
    return database_path + ".migrate-lock"


def schema_version(conn):
    return conn.execute("PRAGMA user_version").fetchone()[0]

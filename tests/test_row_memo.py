"""db.RowMemo: rows kept in memory exactly while nothing has been committed since, seen by
SQLite itself (PRAGMA data_version, total_changes), with no write having to say so."""
import pytest

from tests.conftest import auth
from tryon.store import accounts, db


class Loader:
    """Counts how often the memo went to the database."""

    def __init__(self, conn):
        self.conn, self.calls = conn, 0

    def __call__(self):
        self.calls += 1
        return self.conn.execute("SELECT COUNT(*) FROM users").fetchone()


@pytest.fixture
def reader(app):
    connection = db.connect(app.config["DATABASE"])
    yield connection
    connection.close()


def test_a_row_is_kept_until_another_connection_commits(reader, make_user):
    memo, load = db.RowMemo(reader), Loader(reader)
    memo.check()
    memo.get("users", load)
    memo.check()
    memo.get("users", load)
    assert load.calls == 1
    make_user()                                   # commits through other connections
    memo.check()
    assert memo.get("users", load)[0] == 1 and load.calls == 2


def test_a_write_through_the_same_connection_drops_the_rows(reader, make_user):
    user_id, _ = make_user()
    memo, load = db.RowMemo(reader), Loader(reader)
    memo.check()
    memo.get("users", load)
    # data_version does not count this connection's own commits; total_changes does, and
    # get() looks at it without a new check().
    accounts.set_user_active(reader, user_id, False)
    memo.get("users", load)
    assert load.calls == 2


def test_none_is_not_kept_and_the_memo_is_bounded(reader, monkeypatch):
    memo = db.RowMemo(reader)
    memo.check()
    missing = []
    memo.get("nobody", lambda: missing.append(1))
    memo.get("nobody", lambda: missing.append(1))
    assert len(missing) == 2
    monkeypatch.setattr(db.RowMemo, "MAX_ROWS", 2)
    for name in "abc":
        memo.get(name, lambda name=name: name)
    assert len(memo._rows) <= 2


def test_a_key_kept_in_memory_still_records_its_use(app, client, make_user, conn,
                                                   monkeypatch):
    user_id, key = make_user()
    assert client.get("/api/v1/credits", headers=auth(key)).status_code == 200
    assert client.get("/api/v1/credits", headers=auth(key)).status_code == 200
    later = "2099-01-01T00:00:00.000Z"
    monkeypatch.setattr(accounts, "utcnow", lambda: later)
    assert client.get("/api/v1/credits", headers=auth(key)).status_code == 200
    assert accounts.list_api_keys(conn, user_id)[0]["last_used_at"] == later

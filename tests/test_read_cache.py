"""The read cache of status polls and the change tags that keep it current (read_cache.py,
changes.py): a copy is used until tryon changes the row, in this process or another."""
import subprocess
import sys
from pathlib import Path

from tryon import accounts, db, jobs
from tryon.changes import ChangeTags, SLOTS, _offset
from tryon.read_cache import ReadCache
from tests.conftest import auth, submit

REPO = Path(__file__).resolve().parents[1]


class Loader:
    """Counts how often the cache went to the 'database'."""

    def __init__(self, value="row"):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def names_in_different_slots():
    first = "job:a"
    second = next(f"job:{n}" for n in range(100) if _offset(f"job:{n}") != _offset(first))
    return first, second


def test_two_mappings_of_the_tags_file_see_each_others_bumps(tmp_path):
    path = str(tmp_path / "db-changes")
    one, other = ChangeTags(path), ChangeTags(path)
    name, unrelated = names_in_different_slots()
    before, unrelated_before = other.tag(name), other.tag(unrelated)
    one.bump([name])
    assert other.tag(name) != before
    assert other.tag(unrelated) == unrelated_before
    assert (tmp_path / "db-changes").stat().st_size == SLOTS * 8


def test_changes_are_published_after_commit_not_before(conn):
    tags = conn.change_tags
    before = tags.tag("job:x")
    with db.transaction(conn):
        conn.mark_changed("job:x")
        assert tags.tag("job:x") == before        # a reader now must not cache old data
    assert tags.tag("job:x") != before


def test_a_copy_is_used_until_its_tag_changes(conn):
    cache, load = ReadCache(max_age_seconds=5), Loader()
    assert cache.get(conn, "k", "job:x", load) == "row"
    assert cache.get(conn, "k", "job:x", load) == "row"
    assert load.calls == 1
    conn.mark_changed("job:x")
    cache.get(conn, "k", "job:x", load)
    assert load.calls == 2


def test_a_copy_is_never_older_than_the_max_age(conn):
    now = [100.0]
    cache, load = ReadCache(max_age_seconds=5, clock=lambda: now[0]), Loader()
    cache.get(conn, "k", "job:x", load)
    now[0] += 4.9
    cache.get(conn, "k", "job:x", load)
    assert load.calls == 1
    now[0] += 0.1
    cache.get(conn, "k", "job:x", load)
    assert load.calls == 2


def test_none_is_not_kept_and_max_age_zero_keeps_nothing(conn):
    missing = Loader(value=None)
    cache = ReadCache(max_age_seconds=5)
    cache.get(conn, "k", "job:x", missing)
    cache.get(conn, "k", "job:x", missing)
    assert missing.calls == 2 and len(cache) == 0
    off, load = ReadCache(max_age_seconds=0), Loader()
    off.get(conn, "k", "job:x", load)
    off.get(conn, "k", "job:x", load)
    assert load.calls == 2 and len(off) == 0


def test_the_least_recently_used_copy_goes_first(conn):
    cache = ReadCache(max_age_seconds=5, max_entries=2)
    loads = {name: Loader(name) for name in "abc"}
    for name in "ab":
        cache.get(conn, name, "auth", loads[name])
    cache.get(conn, "a", "auth", loads["a"])           # a is now the most recent
    cache.get(conn, "c", "auth", loads["c"])           # so b goes
    cache.get(conn, "a", "auth", loads["a"])
    cache.get(conn, "b", "auth", loads["b"])
    assert (loads["a"].calls, loads["b"].calls, len(cache)) == (1, 2, 2)


def test_every_write_to_a_job_changes_its_tag(app, conn, make_user, client):
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    tags = conn.change_tags
    name = jobs.cache_name(job_id)

    def changes(action):
        before = tags.tag(name)
        result = action()
        assert tags.tag(name) != before, action
        return result

    _, lease = changes(lambda: jobs.claim(conn, lease_seconds=30))
    changes(lambda: jobs.renew_leases(conn, [lease], lease_seconds=30))
    changes(lambda: jobs.save_remote_state(conn, lease, {"id": "remote-1"}))
    changes(lambda: jobs.complete(conn, lease, "results/x.png", {"provider": "fake"}))
    # A renewal racing the job's end updates nothing, so it must not drop the copies.
    unchanged = tags.tag(name)
    assert jobs.renew_leases(conn, [lease], lease_seconds=30) == [job_id]
    assert tags.tag(name) == unchanged
    changes(lambda: jobs.fail_lost_result(conn, job_id, "gone"))
    changes(lambda: jobs.mark_images_deleted(conn, job_id))
    changes(lambda: jobs.delete_finished(conn, job_id))
    second = submit(client, key).get_json()["jobId"]
    name = jobs.cache_name(second)
    changes(lambda: jobs.cancel(conn, second))


def test_a_key_revoked_by_another_process_fails_at_the_next_poll(app, client, make_user):
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    status_url = f"/api/v1/tryon/status/{job_id}"
    assert client.get(status_url, headers=auth(key)).status_code == 200   # now cached
    revoke = ("import sys; from tryon import accounts, db; "
              "accounts.revoke_api_key(db.connect(sys.argv[1]), sys.argv[2])")
    subprocess.run([sys.executable, "-c", revoke, app.config["DATABASE"], key[:11]],
                   cwd=REPO, check=True, timeout=60)
    response = client.get(status_url, headers=auth(key))
    assert response.status_code == 401
    assert response.get_json()["errorCode"] == "UNAUTHORIZED"


def test_a_deleted_job_is_404_at_the_next_poll(app, client, make_user, conn):
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    jobs.cancel(conn, job_id)
    status_url = f"/api/v1/tryon/status/{job_id}"
    assert client.get(status_url, headers=auth(key)).get_json()["status"] == "failed"
    assert client.delete(f"/api/v1/tryon/{job_id}", headers=auth(key)).status_code == 204
    assert client.get(status_url, headers=auth(key)).status_code == 404



def count_renders(app):
    renderer = app.extensions["tryon.status"]
    calls, render = [], renderer.render
    renderer.render = lambda *args, **kwargs: calls.append(1) or render(*args, **kwargs)
    return calls


def test_a_finished_jobs_document_is_rendered_once_per_change(app, client, make_user, conn):
    _, key = make_user()
    job_id = submit(client, key).get_json()["jobId"]
    jobs.cancel(conn, job_id)
    renders = count_renders(app)
    status_url = f"/api/v1/tryon/status/{job_id}"
    first = client.get(status_url, headers=auth(key))
    second = client.get(status_url, headers=auth(key))
    assert first.get_data() == second.get_data() and first.is_json
    assert first.headers["X-RateLimit-Remaining"] != second.headers["X-RateLimit-Remaining"]
    assert len(renders) == 1
    jobs.mark_images_deleted(conn, job_id)
    assert client.get(status_url, headers=auth(key)).get_json()["result"]["imagesDeleted"]
    assert len(renders) == 2


def test_documents_with_the_image_inline_are_rendered_at_every_poll(make_app):
    renderer = make_app(RESULT_DELIVERY="base64").extensions["tryon.status"]
    assert not renderer.is_fixed({"state": "completed"})
    assert renderer.is_fixed({"state": "failed"})
    assert not renderer.is_fixed({"state": "running"})

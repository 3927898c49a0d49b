"""The credit ledger: one debit per job, one refund per failed job, no overdraft."""
import threading

from tests.helpers import submit, wait_for_status
from tryon.providers import ProviderError
from tryon.queue import jobs
from tryon.store import accounts, db


def test_parallel_submits_against_a_balance_of_one_accept_exactly_one(make_app, make_user):
    app = make_app()
    user_id, key = make_user(credits=1)
    barrier = threading.Barrier(20)
    codes = []
    lock = threading.Lock()

    def one_submit():
        client = app.test_client()
        barrier.wait()
        code = submit(client, key).status_code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=one_submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(codes) == [202] + [402] * 19
    conn = db.connect(app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 0
    assert accounts.ledger_sum(conn, user_id) == 0
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
    conn.close()


def test_failed_job_is_refunded_exactly_once(worker_app, make_user, fake_provider):
    fake_provider.failure = ProviderError("GENERATION_FAILED", "model exploded")
    client = worker_app.test_client()
    user_id, key = make_user(credits=2)
    job_id = submit(client, key).get_json()["jobId"]
    assert wait_for_status(client, key, job_id)["errorCode"] == "GENERATION_FAILED"
    conn = db.connect(worker_app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 2
    kinds = [row["kind"] for row in conn.execute(
        "SELECT kind FROM credit_ledger WHERE job_id = ? ORDER BY id", (job_id,))]
    assert kinds == ["debit", "refund"]
    # Failing it again (a late second attempt) changes nothing.
    job = jobs.get(conn, job_id)
    assert not jobs.fail(conn, jobs.Lease(job_id, "stale-token"), "GENERATION_FAILED", "again")
    with db.transaction(conn):
        accounts.refund_job(conn, user_id, job_id, job.cost)
    assert accounts.balance(conn, user_id) == 2
    assert accounts.ledger_sum(conn, user_id) == 2
    conn.close()


def test_completed_job_is_charged_once(worker_app, make_user):
    client = worker_app.test_client()
    user_id, key = make_user(credits=3)
    job_id = submit(client, key).get_json()["jobId"]
    assert wait_for_status(client, key, job_id)["status"] == "completed"
    conn = db.connect(worker_app.config["DATABASE"])
    assert accounts.balance(conn, user_id) == 2 == accounts.ledger_sum(conn, user_id)
    conn.close()


def test_balance_never_goes_negative(app, make_user):
    user_id, _ = make_user(credits=0)
    conn = db.connect(app.config["DATABASE"])
    try:
        with db.transaction(conn):
            accounts.debit_for_job(conn, user_id, None, 1)
    except accounts.InsufficientCredits:
        pass
    else:
        raise AssertionError("debit without credits was accepted")
    assert accounts.balance(conn, user_id) == 0
    conn.close()

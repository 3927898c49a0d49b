"""Growth: status latency and submit rate with 1 000 and with 1 000 000 finished jobs (and
as many ledger rows) in the database. The 1 000-job run is the baseline of the same run.
Target: within 20 %.

    .venv/bin/python bench/bench_growth.py [--large 1000000] [--seconds 5]
"""
import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_status import submit_one, wrk  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.service import BenchServer, multipart_body, need, photo_jpeg  # noqa: E402
from tryon.db import transaction, utcnow  # noqa: E402


def fill(server, user_id, count, batch=50_000):
    """Insert `count` completed jobs of `user_id` with their debits, as fast as SQLite can."""
    conn = server.connect()
    now = utcnow()
    result = json.dumps({"objectKey": "results/x.png", "provider": "instant"})
    try:
        for start in range(0, count, batch):
            ids = [str(uuid.uuid4()) for _ in range(min(batch, count - start))]
            with transaction(conn):
                conn.executemany(
                    "INSERT INTO jobs (id, user_id, state, provider, cost, person_key,"
                    " garment_key, result_key, result, created_at, updated_at, finished_at)"
                    " VALUES (?, ?, 'completed', 'instant', 1, 'inputs/x/person.jpg',"
                    " 'inputs/x/garment.jpg', 'results/x.png', ?, ?, ?, ?)",
                    [(job_id, user_id, result, now, now, now) for job_id in ids])
                conn.executemany(
                    "INSERT INTO credit_ledger (user_id, delta, kind, job_id, created_at)"
                    " VALUES (?, 0, 'debit', ?, ?)", [(user_id, job_id, now) for job_id in ids])
    finally:
        conn.close()


def measure(size, seconds):
    with tempfile.TemporaryDirectory() as tmp, BenchServer(tmp, WORKERS=0) as server:
        key = server.create_key("bench@example.com", credits=10_000_000)
        fill(server, 1, size)
        # A queued job: its status counts its queue position, the query that could grow.
        job_id = submit_one(server, key, wait=False)
        status = wrk(f"{server.url}/api/v1/tryon/status/{job_id}", seconds,
                     headers=[f"Authorization: Bearer {key}"])
        body, content_type = multipart_body({"person_images": ("p.jpg", photo_jpeg(60)),
                                             "garment_images": ("g.jpg", photo_jpeg(60, 1))})
        submit = run_load(server.url + "/api/v1/tryon", body=body, seconds=seconds, threads=8,
                          headers={"Authorization": f"Bearer {key}",
                                   "Content-Type": content_type}, ok_statuses=(202,))
    return status, submit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    need("wrk")
    rows = {size: measure(size, args.seconds) for size in (args.small, args.large)}
    print(f"{'jobs in database':>17}{'status req/s':>14}{'status p50 ms':>15}{'p99 ms':>8}"
          f"{'submits/s':>11}")
    for size, (status, submit) in rows.items():
        print(f"{size:>17,}{status['rps']:>14.0f}{status['p50']:>15.2f}{status['p99']:>8.2f}"
              f"{submit['rps']:>11.1f}")
    (small_status, small_submit), (large_status, large_submit) = rows.values()
    print(f"large / small: status rate {large_status['rps'] / small_status['rps']:.2f}, "
          f"submit rate {large_submit['rps'] / small_submit['rps']:.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()

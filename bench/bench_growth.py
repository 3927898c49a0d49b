"""Growth: status latency and submit rate with 1 000 and with 1 000 000 finished jobs (and
as many ledger rows) in the database. The 1 000-job run is the baseline of the same run.
Target: within 20 %.

    .venv/bin/python bench/bench_growth.py [--large 1000000] [--seconds 5]
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_status import submit_one, wrk  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.service import BenchServer, fill_jobs, multipart_body, need, photo_jpeg  # noqa: E402


def measure(size, seconds):
    with tempfile.TemporaryDirectory() as tmp, BenchServer(tmp, WORKERS=0) as server:
        key = server.create_key("bench@example.com", credits=10_000_000)
        fill_jobs(server, server.user_id("bench@example.com"), size)
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
    print(f"large / small: status latency p50 {large_status['p50'] / small_status['p50']:.2f}, "
          f"p99 {large_status['p99'] / small_status['p99']:.2f} (target <= 1.20)")


if __name__ == "__main__":
    main()

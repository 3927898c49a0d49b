"""Growth: status latency and submit rate with 1 000 and with 1 000 000 finished jobs (and
as many ledger rows) in the database. The 1 000-job server is the baseline of the same run:
both servers run side by side and are measured in alternating rounds, so that a drift in
the host's speed reaches both alike; each figure is the median of the rounds' ratios.
Target: within 20 %.

    .venv/bin/python bench/bench_growth.py [--large 1000000] [--seconds 5] [--rounds 3]
"""
import argparse
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_status import submit_one, wrk  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.service import (  # noqa: E402
    BenchServer,
    alternating_rounds,
    fill_jobs,
    multipart_body,
    need,
    photo_jpeg,
)


class GrowthServer:
    """A server whose database holds `size` finished jobs, and a queued job to poll."""

    def __init__(self, stack, size):
        self.server = stack.enter_context(BenchServer(stack.enter_context(
            tempfile.TemporaryDirectory()), WORKERS=0))
        self.key = self.server.create_key("bench@example.com", credits=10_000_000)
        fill_jobs(self.server, self.server.user_id("bench@example.com"), size)
        # A queued job: its status counts its queue position, the query that could grow.
        self.job_id = submit_one(self.server, self.key, wait=False)

    def measure(self, seconds, body, content_type):
        status = wrk(f"{self.server.url}/api/v1/tryon/status/{self.job_id}", seconds,
                     headers=[f"Authorization: Bearer {self.key}"])
        submit = run_load(self.server.url + "/api/v1/tryon", body=body, seconds=seconds,
                          threads=8, ok_statuses=(202,),
                          headers={"Authorization": f"Bearer {self.key}",
                                   "Content-Type": content_type})
        return status, submit


def report(rounds, small_size, large_size):
    print(f"{'round':<7}{'jobs in database':>17}{'status req/s':>14}{'status p50 ms':>15}"
          f"{'p99 ms':>8}{'submits/s':>11}")
    for number, pair in enumerate(rounds, 1):
        for size, (status, submit) in zip((small_size, large_size), pair, strict=True):
            print(f"{number:<7}{size:>17,}{status['rps']:>14.0f}{status['p50']:>15.2f}"
                  f"{status['p99']:>8.2f}{submit['rps']:>11.1f}")

    def ratio(which, field):
        return statistics.median(large[which][field] / small[which][field]
                                 for small, large in rounds)

    print(f"large / small, median of {len(rounds)} rounds: status rate "
          f"{ratio(0, 'rps'):.2f}, submit rate {ratio(1, 'rps'):.2f} (target >= 0.80)")
    print(f"large / small, median of {len(rounds)} rounds: status latency p50 "
          f"{ratio(0, 'p50'):.2f}, p99 {ratio(0, 'p99'):.2f} (target <= 1.20)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    need("wrk")
    body, content_type = multipart_body({"person_images": ("p.jpg", photo_jpeg(60)),
                                         "garment_images": ("g.jpg", photo_jpeg(60, 1))})
    with contextlib.ExitStack() as stack:
        small, large = GrowthServer(stack, args.small), GrowthServer(stack, args.large)
        rounds = alternating_rounds(args.rounds,
                                    lambda: small.measure(args.seconds, body, content_type),
                                    lambda: large.measure(args.seconds, body, content_type))
    report(rounds, args.small, args.large)


if __name__ == "__main__":
    main()

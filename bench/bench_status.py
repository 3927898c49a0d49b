"""Status polling throughput: GET /api/v1/tryon/status/{id} (auth, rate limiter, database,
signed URL) against the bare JSON endpoint /livez of the same server process, with the same
load generator (wrk, 16 connections) in the same run, in alternating rounds; the figure is
the median of the rounds' ratios. Target: ratio >= 0.6.

    .venv/bin/python bench/bench_status.py [--seconds 5] [--rounds 3] [--jobs 1000]

--jobs fills the database with that many finished jobs (and their ledger rows) of the same
user first, 0 for none (see bench_growth.py for the 1 000 vs 1 000 000 comparison).
"""
import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bench.service import (  # noqa: E402
    BenchServer,
    alternating_rounds,
    fill_jobs,
    median_of_rounds,
    multipart_body,
    need,
    photo_jpeg,
)


def wrk(url, seconds, headers=(), connections=16):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rate, "p50": _percentile(out, "50"), "p99": _percentile(out, "99"),
            "errors": int(non_2xx.group(1)) if non_2xx else 0}


def _percentile(out, which):
    value, unit = re.search(rf"^\s+{which}%\s+([\d.]+)(us|ms|s)", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def submit_one(server, key, wait=True):
    body, content_type = multipart_body({"person_images": ("p.jpg", photo_jpeg(60)),
                                         "garment_images": ("g.jpg", photo_jpeg(60, seed=1))})
    response = requests.post(server.url + "/api/v1/tryon", data=body, timeout=30, headers={
        "Authorization": f"Bearer {key}", "Content-Type": content_type})
    job_id = response.json()["jobId"]
    deadline = time.monotonic() + 30
    while wait and time.monotonic() < deadline:
        status = requests.get(f"{server.url}/api/v1/tryon/status/{job_id}", timeout=5,
                              headers={"Authorization": f"Bearer {key}"}).json()["status"]
        if status != "processing":
            break
        time.sleep(0.05)
    return job_id


def measure(server, key, job_id, seconds, rounds):
    """[(bare, status)] for each of `rounds` alternating rounds."""
    return alternating_rounds(
        rounds, lambda: wrk(server.url + "/livez", seconds),
        lambda: wrk(f"{server.url}/api/v1/tryon/status/{job_id}", seconds,
                    headers=[f"Authorization: Bearer {key}"]))


def report(pairs, label=""):
    print(f"{'round':<7}{'endpoint':<40}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'ratio':>7}")
    for number, (bare, status) in enumerate(pairs, 1):
        for name, row in (("/livez (bare JSON, baseline)", bare),
                          ("/api/v1/tryon/status/{id}" + label, status)):
            ratio = f"{status['rps'] / bare['rps']:>7.2f}" if row is status else ""
            print(f"{number:<7}{name:<40}{row['rps']:>9.0f}{row['p50']:>9.2f}{row['p99']:>9.2f}"
                  f"{row['errors']:>8}{ratio}")
    ratios = [status["rps"] / bare["rps"] for bare, status in pairs]
    print(f"ratio status / bare: {median_of_rounds(ratios)}; target >= 0.6")
    print("status p50 / p99 (median of the rounds): "
          f"{statistics.median(s['p50'] for _, s in pairs):.2f} / "
          f"{statistics.median(s['p99'] for _, s in pairs):.2f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="each run (default 5)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating runs of each endpoint (default 3)")
    parser.add_argument("--jobs", type=int, default=1000,
                        help="finished jobs put in the database first (default 1000)")
    args = parser.parse_args()
    need("wrk")
    with tempfile.TemporaryDirectory() as tmp, BenchServer(tmp, WORKERS=2) as server:
        key = server.create_key("bench@example.com", credits=10)
        fill_jobs(server, server.user_id("bench@example.com"), args.jobs)
        job_id = submit_one(server, key)
        requests.get(server.url + "/livez")            # warm up both paths
        pairs = measure(server, key, job_id, args.seconds, args.rounds)
        print(f"jobs in database: {args.jobs + 1:,}")
        report(pairs, " (completed)")


if __name__ == "__main__":
    main()

"""Queue overhead: the time from a job's row being committed (the end of its submit) to
"completed", minus the provider's own time (which bench_app.py's instant provider records in
the job's result; it returns the person image as it is), so what is measured is our own
overhead: dispatch, reading inputs, checking and storing the result,
the database. Jobs are submitted in bursts of 1, 8 and 32 at once; 2 worker
threads run them (TRYON_WORKERS=2, the local engine's default on a 2-core VM; a remote
provider gets 8 by default). Targets: p50 <= 25 ms, p99 <= 100 ms.

    .venv/bin/python bench/bench_queue.py [--rounds 5] [--workers 2]

Baseline of the same run: the single-job burst (no queueing), against which the bursts'
medians are given as ratios. "queued" is the part spent waiting for a free worker thread
(the job's result.timings.queuedMs).
"""
import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bench.service import BenchServer, multipart_body, photo_jpeg  # noqa: E402
from tryon.store.db import parse_utc  # noqa: E402


def burst(server, key, body, content_type, size):
    job_ids = []
    lock = threading.Lock()

    def submit():
        response = requests.post(server.url + "/api/v1/tryon", data=body, timeout=60, headers={
            "Authorization": f"Bearer {key}", "Content-Type": content_type})
        with lock:
            job_ids.append(response.json()["jobId"])

    threads = [threading.Thread(target=submit) for _ in range(size)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return job_ids


def overheads_ms(server, job_ids, timeout=120):
    conn = server.connect()
    deadline = time.monotonic() + timeout
    try:
        marks = ",".join("?" * len(job_ids))
        while True:
            rows = conn.execute(f"SELECT state, created_at, finished_at, result FROM jobs"
                                f" WHERE id IN ({marks})", job_ids).fetchall()
            if any(row["state"] == "failed" for row in rows):
                raise RuntimeError("a job failed: see the server log")
            if all(row["state"] == "completed" for row in rows):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("jobs did not complete")
            time.sleep(0.05)
    finally:
        conn.close()
    samples = []
    for row in rows:
        result = json.loads(row["result"])
        total = (parse_utc(row["finished_at"]) - parse_utc(row["created_at"])).total_seconds()
        # (overhead, of which waiting for a free worker thread), in ms
        samples.append((total * 1000 - result["benchProviderMs"], result["timings"]["queuedMs"]))
    return samples


def percentile(values, fraction):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(fraction * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="TRYON_WORKERS (default 2)")
    args = parser.parse_args()
    body, content_type = multipart_body({"person_images": ("p.jpg", photo_jpeg(150)),
                                         "garment_images": ("g.jpg", photo_jpeg(150, seed=1))})
    with tempfile.TemporaryDirectory() as tmp, BenchServer(tmp, WORKERS=args.workers) as server:
        key = server.create_key("bench@example.com", credits=100_000)
        overheads_ms(server, burst(server, key, body, content_type, 2))      # warm up
        results = {}
        for size in (1, 8, 32):
            samples = []
            for _ in range(args.rounds):
                samples += overheads_ms(server, burst(server, key, body, content_type, size))
            results[size] = samples
    baseline = statistics.median(total for total, _ in results[1])
    print(f"{'concurrent jobs':<17}{'jobs':>6}{'p50 ms':>9}{'p99 ms':>9}{'p50 / 1 job':>13}"
          f"{'p50 queued ms':>15}")
    for size, samples in results.items():
        totals = [total for total, _ in samples]
        p50 = statistics.median(totals)
        print(f"{size:<17}{len(samples):>6}{p50:>9.1f}{percentile(totals, 0.99):>9.1f}"
              f"{p50 / baseline:>13.2f}{statistics.median(q for _, q in samples):>15.1f}")
    print(f"targets: p50 <= 25 ms, p99 <= 100 ms ({args.workers} worker threads, instant "
          "provider)")


if __name__ == "__main__":
    main()

"""Memory: resident memory of the server process idle and under sustained mixed load
(submits with the instant provider running them, plus status polling), sampled every
5 seconds. The idle figure is the baseline of the same run; flat means the last samples
are no higher than the first samples under load by more than a few percent.

    .venv/bin/python bench/bench_memory.py [--minutes 10]
"""
import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_status import submit_one  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.service import BenchServer, multipart_body, photo_jpeg  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp, BenchServer(tmp, WORKERS=2) as server:
        key = server.create_key("bench@example.com", credits=100_000_000)
        job_id = submit_one(server, key)
        time.sleep(2)                                   # let start-up allocations settle
        idle = server.rss_mb()
        body, content_type = multipart_body({"person_images": ("p.jpg", photo_jpeg(150)),
                                             "garment_images": ("g.jpg", photo_jpeg(150, 1))})
        auth = {"Authorization": f"Bearer {key}"}
        loads = [
            threading.Thread(target=run_load, args=(server.url + "/api/v1/tryon",), kwargs=dict(
                body=body, headers={**auth, "Content-Type": content_type}, threads=2,
                seconds=seconds, ok_statuses=(202,))),
            threading.Thread(target=run_load, args=(
                f"{server.url}/api/v1/tryon/status/{job_id}",), kwargs=dict(
                method="GET", headers=auth, threads=4, seconds=seconds)),
        ]
        [thread.start() for thread in loads]
        samples = []
        started = time.monotonic()
        while any(thread.is_alive() for thread in loads):
            samples.append((time.monotonic() - started, server.rss_mb()))
            time.sleep(5)
        [thread.join() for thread in loads]
        conn = server.connect()
        done = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'completed'").fetchone()[0]
        conn.close()
    under_load = [rss for _, rss in samples]
    quarter = max(1, len(under_load) // 4)
    early, late = statistics.mean(under_load[:quarter]), statistics.mean(under_load[-quarter:])
    print(f"idle RSS (baseline): {idle:.0f} MB")
    print(f"under load for {args.minutes:g} min ({done} jobs completed): min {min(under_load):.0f},"
          f" max {max(under_load):.0f} MB; first quarter {early:.0f} MB, last quarter {late:.0f} MB")
    print(f"ratios: max / idle {max(under_load) / idle:.2f}, last / first quarter {late / early:.3f}"
          " (flat: <= 1.05)")


if __name__ == "__main__":
    main()

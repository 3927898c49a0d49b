"""Memory: resident memory of the server process idle and under sustained mixed load
(submits with the instant provider running them, plus status polling), sampled every
5 seconds. The idle figure is the baseline of the same run; flat means the last samples
are no higher than the first samples under load (after a 30 s warm-up) by more than 5 %.

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

WARM_UP_SECONDS = 30


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
    # The first samples are taken while the load is still ramping up (the very first one is
    # the idle process): they are shown but left out of the "under load" figures.
    warm_up = min(WARM_UP_SECONDS, seconds / 4)
    under_load = [rss for at, rss in samples if at >= warm_up]
    quarter = max(1, len(under_load) // 4)
    early, late = statistics.mean(under_load[:quarter]), statistics.mean(under_load[-quarter:])
    print("RSS by minute (max MB): " + ", ".join(
        f"{minute}: {max(rss for at, rss in samples if int(at // 60) == minute):.0f}"
        for minute in sorted({int(at // 60) for at, _ in samples})))
    print(f"idle RSS (baseline): {idle:.0f} MB; first {warm_up:g} s of load left out as warm-up")
    print(f"under load for {args.minutes:g} min ({done} jobs completed): "
          f"min {min(under_load):.0f}, max {max(under_load):.0f} MB; "
          f"first quarter {early:.0f} MB, last quarter {late:.0f} MB")
    print(f"ratios: max / idle {max(under_load) / idle:.2f}, "
          f"last / first quarter {late / early:.3f} (flat: <= 1.05)")


if __name__ == "__main__":
    main()

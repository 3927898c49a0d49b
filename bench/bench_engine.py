"""Benchmark the local try-on engine on a 768x1024 portrait.

    .venv/bin/python bench/bench_engine.py [--runs 15] \
        [--prototype ../shared/reference/engine-prototype]

Prints the warm median per stage for each OpenCV thread setting, the latency and
throughput with two worker threads sharing one engine (as the service runs it),
model load time, first-call time and peak RSS. The baseline, measured in the
same run, is the same engine with OpenCV limited to one thread; with --prototype
the reference prototype is also timed on the same inputs.
Needs scikit-image (a test dependency) for the astronaut photo.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tryon.engine import DEFAULT_MODELS_DIR, TryOnEngine  # noqa: E402

STAGES = ("person", "garment", "warp", "composite", "total")


def load_test_images():
    from skimage import data

    spec = importlib.util.spec_from_file_location(
        "garment_photos", REPO / "tests/engine/garment_photos.py"
    )
    photos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(photos)
    astronaut = photos.to_bgr(data.astronaut())
    portrait = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)[:, 128:896].copy()
    return portrait, photos.tshirt(colour=(150, 75, 30))


def median_stages(engine, person, garment, runs):
    timings = [engine.try_on(person, garment).timings_ms for _ in range(runs)]
    return {stage: statistics.median(t[stage] for t in timings) for stage in STAGES}


def two_workers(engine, person, garment, runs):
    """Two threads, one engine, runs requests each.

    Returns (median latency ms, requests per second).
    """
    latencies, lock = [], threading.Lock()

    def worker():
        for _ in range(runs):
            started = time.perf_counter()
            engine.try_on(person, garment)
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statistics.median(latencies), len(latencies) / (time.perf_counter() - started)


def time_prototype(folder: Path, person, garment, runs):
    os.environ["TFL_DIR"] = str(DEFAULT_MODELS_DIR)
    sys.path.insert(0, str(folder))
    import engine as prototype  # the reference sketch's engine.py

    prototype.tryon(person, garment)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        prototype.tryon(person, garment)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def print_row(label, stages):
    print(f"  {label:<22}" + "".join(f"{stages[s]:>11.1f}" for s in STAGES))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--prototype", type=Path, default=None, help="folder of the reference prototype"
    )
    args = parser.parse_args()

    person, garment = load_test_images()
    engine = TryOnEngine()
    started = time.perf_counter()
    engine.load()
    load_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    engine.try_on(person, garment)
    first_ms = (time.perf_counter() - started) * 1000
    print(
        f"person {person.shape[1]}x{person.shape[0]}, "
        f"garment {garment.shape[1]}x{garment.shape[0]}, {os.cpu_count()} CPUs, "
        f"OpenCV {cv2.__version__}, default cv2 threads {cv2.getNumThreads()}"
    )
    print(f"model load {load_ms:.0f} ms, first request {first_ms:.0f} ms")
    print(f"\nwarm median of {args.runs} sequential requests, ms")
    print("  " + " " * 22 + "".join(f"{s:>11}" for s in STAGES))
    results = {}
    for threads in (1, 2):
        cv2.setNumThreads(threads)
        engine.try_on(person, garment)
        results[threads] = median_stages(engine, person, garment, args.runs)
        print_row(f"cv2.setNumThreads({threads})", results[threads])

    print("\ntwo worker threads sharing one engine (each thread has its own networks)")
    for threads in (1, 2):
        cv2.setNumThreads(threads)
        latency, throughput = two_workers(engine, person, garment, max(3, args.runs // 2))
        print(
            f"  cv2.setNumThreads({threads}): median latency {latency:.0f} ms, "
            f"{throughput:.2f} requests/s"
        )

    baseline, best = results[1]["total"], results[2]["total"]
    print(
        f"\nbaseline (same engine, OpenCV on 1 thread): {baseline:.0f} ms; "
        f"with 2 OpenCV threads: {best:.0f} ms; ratio {baseline / best:.2f}x"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "peak RSS of this process (engine with 3 threads' networks, scikit-image, test images): "
        f"{peak:.0f} MB"
    )
    if args.prototype:
        cv2.setNumThreads(2)
        proto = time_prototype(args.prototype, person, garment, max(3, args.runs // 3))
        print(
            f"reference prototype on the same inputs: {proto:.0f} ms median; "
            f"this engine is {proto / best:.1f}x faster"
        )


if __name__ == "__main__":
    main()

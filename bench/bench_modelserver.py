"""The model server's own cost per job: HTTP, the queue, decoding the inputs, scaling and
encoding the result, measured against bare pipeline calls of the same tiny random model in the
same run (`tiny-random`: the real Flux2KleinPipeline with tiny weights, on this CPU).

    .venv/bin/python bench/bench_modelserver.py [--rounds 5] [--jobs 8] [--size 512x640]

- Latency: one job at a time through `python -m tryon.modelserver` (submit, a status request
  that waits for the result (`?wait=30`, as the API's provider asks), download the JPEG)
  against one bare `generate()` call; overhead = the difference of the medians. Target: p50
  overhead <= 30 ms.
- Throughput: all jobs submitted at once, until the last result is downloaded, against the
  same number of back-to-back bare calls. Target: >= 0.95.
The bare calls run in this process and the server in another, in alternating rounds (the
host's speed drifts within minutes), each with torch's default threads; the client shares the
CPU with the server. Figures are the median of the rounds, with their range.
"""
import argparse
import base64
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from bench.service import free_port  # noqa: E402
from tryon.modelserver.models import model_spec  # noqa: E402
from tryon.modelserver.models.base import Placement, TryOnInput  # noqa: E402


def photo(size, colour):
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).ellipse((size[0] // 4, size[1] // 8, size[0] * 3 // 4, size[1] // 2),
                                  fill=(250, 220, 190))
    return image


def jpeg_uri(image):
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def bare_model():
    model = model_spec("tiny-random").load(None, Placement("cpu", "float32", "none"))
    model.warm_up()
    return model


def bare_calls(model, person, garment, jobs):
    """Back-to-back generate() calls: each one's time, and the time of them all."""
    latencies = []
    started = time.perf_counter()
    for seed in range(jobs):
        began = time.perf_counter()
        model.generate(TryOnInput(person=person, garment=garment, seed=seed))
        latencies.append(time.perf_counter() - began)
    return latencies, time.perf_counter() - started


class Server:
    def __init__(self, folder, jobs):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRYON_MODELSERVER_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tryon.modelserver", "--model", "tiny-random",
             "--bind", f"127.0.0.1:{self.port}", "--max-queue", str(jobs),
             "--results-dir", str(Path(folder) / "results")],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while not self._ready():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the model server did not get ready")
            time.sleep(0.1)
        self.session = requests.Session()

    def _ready(self):
        try:
            return requests.get(self.url + "/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def submit(self, body, key):
        answer = self.session.post(self.url + "/v1/tryon", json=body, timeout=60,
                                   headers={"Idempotency-Key": key})
        answer.raise_for_status()
        return answer.json()["id"]

    def result(self, job_id, session=None):
        session = session or self.session
        while True:
            state = session.get(f"{self.url}/v1/tryon/{job_id}?wait=30", timeout=60).json()
            if state["status"] == "completed":
                return session.get(state["output"]["image_url"], timeout=60).content
            if state["status"] == "failed":
                raise RuntimeError(state["error"])

    def stop(self):
        self.process.terminate()
        self.process.wait(60)


def through_server(server, body, jobs, round_number):
    """One job at a time (each one's time), then `jobs` at once (the time of them all)."""
    latencies = []
    for seed in range(jobs):
        began = time.perf_counter()
        server.result(server.submit({**body, "options": {"seed": seed}},
                                    f"one-{round_number}-{seed}"))
        latencies.append(time.perf_counter() - began)
    started = time.perf_counter()
    ids = [server.submit({**body, "options": {"seed": seed}}, f"burst-{round_number}-{seed}")
           for seed in range(jobs)]
    threads = [threading.Thread(target=server.result, args=(job_id, requests.Session()))
               for job_id in ids]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    return latencies, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=8, help="jobs per round and way")
    parser.add_argument("--size", default="512x640", help="person photo WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    person, garment = photo((width, height), (200, 120, 80)), photo((400, 400), (20, 60, 200))
    body = {"person_image": jpeg_uri(person), "garment_image": jpeg_uri(garment)}

    model = bare_model()
    overheads, ratios, bare_p50s, served_p50s = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        server = Server(folder, args.jobs)
        try:
            server.result(server.submit({**body, "options": {"seed": 0}}, "warm"))
            for number in range(args.rounds):
                bare, bare_total = bare_calls(model, person, garment, args.jobs)
                served, served_total = through_server(server, body, args.jobs, number)
                bare_p50s.append(statistics.median(bare))
                served_p50s.append(statistics.median(served))
                overheads.append((served_p50s[-1] - bare_p50s[-1]) * 1000)
                ratios.append(bare_total / served_total)
        finally:
            server.stop()

    def spread(values, digits):
        return (f"{statistics.median(values):.{digits}f} (rounds {min(values):.{digits}f} "
                f"to {max(values):.{digits}f})")

    print(f"tiny-random, person {width}x{height}, {args.rounds} rounds of {args.jobs} jobs "
          f"each way, alternating, {os.cpu_count()} CPUs")
    print("| | bare pipeline calls (baseline) | through the model server | |")
    print("|---|---|---|---|")
    print(f"| p50 per job | {statistics.median(bare_p50s) * 1000:.0f} ms | "
          f"{statistics.median(served_p50s) * 1000:.0f} ms | overhead {spread(overheads, 0)} ms "
          "(target <= 30) |")
    print(f"| throughput, {args.jobs} at once | back-to-back | all submitted at once | "
          f"ratio {spread(ratios, 2)} (target >= 0.95) |")


if __name__ == "__main__":
    main()

"""Shared pieces of the service benchmarks: a real gunicorn server on a fresh instance, an
instant provider, users and keys, and photo-sized test images.

    from bench.service import BenchServer
    with BenchServer(tmp, WORKERS=2) as server: ...

The server is the production entry (gunicorn with gunicorn.conf.py: one process, 8 threads
unless `threads` says otherwise; glibc's malloc settings as `make run` sets them) running
bench/bench_app.py, which is wsgi.py plus an `instant` provider (it returns the person
image as it is, so what is measured is our own overhead).
"""
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tryon.store import accounts, db  # noqa: E402
from tryon.store.db import transaction, utcnow  # noqa: E402

# What `make run` and deploy/tryon.service set (see the Makefile); the caller's environment
# wins, so `MALLOC_MMAP_THRESHOLD_=131072 bench/bench_memory.py` measures another value.
MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "4194304"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchServer:
    def __init__(self, instance_path, threads=8, **settings):
        self.instance_path = Path(instance_path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.threads = threads
        self.env = {**MALLOC_SETTINGS, **os.environ,
                    "TRYON_INSTANCE_PATH": str(self.instance_path),
                    "TRYON_PROVIDER": "instant", "TRYON_SECRET_KEY": "bench",
                    "TRYON_RATE_LIMIT_SUBMIT": "1000000 per minute",
                    "TRYON_RATE_LIMIT_STATUS": "10000000 per minute",
                    **{f"TRYON_{k}": str(v) for k, v in settings.items()}}
        self.process = None

    def __enter__(self):
        self.instance_path.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(REPO / ".venv/bin/gunicorn"), "--threads", str(self.threads),
             "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "bench.bench_app:app"],
            cwd=REPO, env=self.env, stdout=subprocess.DEVNULL,
            stderr=open(self.instance_path / "server.log", "ab"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(self.url + "/livez", timeout=5).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        if self.process.poll() is None:
            self.process.kill()
        # The instance is usually a temporary directory, gone once this propagates: quote it.
        log_tail = (self.instance_path / "server.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"server did not start; its log ends:\n{log_tail}")

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def connect(self):
        return db.connect(str(self.instance_path / "tryon.sqlite3"))

    def create_key(self, email, credits):
        conn = self.connect()
        try:
            user_id = accounts.create_user(conn, email, "bench-password", credits=credits)
            return accounts.create_api_key(conn, user_id, "bench")[0]
        finally:
            conn.close()

    def user_id(self, email):
        conn = self.connect()
        try:
            return conn.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()[0]
        finally:
            conn.close()

    def rss_mb(self, field="VmRSS"):
        """Resident memory of the gunicorn worker (the process that serves and runs jobs);
        field="VmHWM" gives its peak since it started."""
        pids = [self.process.pid] + _children(self.process.pid)
        return max(_rss_kb(pid, field) for pid in pids) / 1024


def fill_jobs(server, user_id, count, batch=50_000):
    """Insert `count` completed jobs of `user_id` with their (zero) debits, as fast as SQLite
    can: the database of a service that has run that many jobs."""
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


def _children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    return [int(p) for p in out.split()]


def _rss_kb(pid, field="VmRSS"):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def photo_jpeg(target_kb=300, seed=0):
    """A photo-like JPEG of about `target_kb` kB (smooth gradients plus fine noise)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    height, width = 1024, 768
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) * 127 // (width + height))],
                    axis=-1).astype(np.int16)
    quality, noise = 90, 12
    while True:
        pixels = np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype("uint8")
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="JPEG", quality=quality)
        if out.tell() >= target_kb * 1000 or noise > 60:
            return out.getvalue()
        noise += 4


def multipart_body(fields):
    """Encode files once, so the load generator spends no time on it. Returns (body, type)."""
    boundary = "benchboundary7d93a1"
    parts = []
    for name, (filename, data) in fields.items():
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                     f"filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n".encode()
                     + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def need(tool):
    if shutil.which(tool) is None:
        sys.exit(f"{tool} is needed for this benchmark: apt-get install -y {tool}")


def alternating_rounds(rounds, *runs):
    """Call each of `runs` in turn, `rounds` times over, so that a drift in the host's speed
    (20-30 % within minutes on a shared VM) reaches a baseline and what is compared with it
    alike. Returns one tuple of the runs' results per round."""
    return [tuple(run() for run in runs) for _ in range(rounds)]


def median_of_rounds(values, spec=".2f"):
    """'0.60, the median of 3 rounds (0.56 to 0.67)' for the rounds' `values`."""
    low, high = min(values), max(values)
    return (f"{statistics.median(values):{spec}}, the median of {len(values)} rounds "
            f"({low:{spec}} to {high:{spec}})")

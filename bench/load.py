"""A small closed-loop load generator: N threads, each with its own keep-alive connection,
sending the same prepared request for a fixed time. Returns the rate and latencies."""
import http.client
import statistics
import threading
import time
from urllib.parse import urlsplit


def run_load(url, *, method="POST", body=None, headers=None, threads=8, seconds=10,
             ok_statuses=(200, 202)):
    target = urlsplit(url)
    latencies, failures = [], []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        mine, bad = [], 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            conn.request(method, target.path, body=body, headers=headers or {})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status not in ok_statuses:
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            failures.append(bad)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": sum(failures),
        "requests": len(latencies),
    }

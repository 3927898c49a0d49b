"""The long variants of the reliability tests, against real server processes.

    .venv/bin/python bench/bench_reliability.py kill [--jobs 200] [--kills 20] [--seed N]
    .venv/bin/python bench/bench_reliability.py contention [--seconds 60] [--threads 50]

`kill` SIGKILLs the server at seeded random moments while jobs run and restarts it, then
checks every job ended exactly once, was charged once and has a whole result file (the
test suite runs it with 50 jobs and 4 kills). `contention` runs threads of mixed reads and
writes against one server and counts errors and "database is locked" in its log.
"""
import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from tests.live import LiveServer  # noqa: E402
from tests.test_crash_restart import run_kill_loop  # noqa: E402


def kill(args):
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(tmp, WORKERS=2, JOB_LEASE_SECONDS=1, JOB_MAX_ATTEMPTS=50,
                            TEST_PROVIDER_DELAY=0.15, RATE_LIMIT_SUBMIT="1000000/minute")
        started = time.monotonic()
        try:
            run_kill_loop(server, jobs=args.jobs, kills=args.kills, seed=args.seed)
        finally:
            server.stop()
        print(f"{args.jobs} jobs, {args.kills} SIGKILLs: every job completed exactly once, "
              f"charged once, results whole ({time.monotonic() - started:.0f} s, "
              f"{len(server.provider_calls())} provider calls)")


def contention(args):
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(tmp, WORKERS=2, RATE_LIMIT_SUBMIT="1000000/minute",
                            RATE_LIMIT_STATUS="1000000/minute").start()
        try:
            _, key = server.create_user("load@example.com", 10_000_000)
            job_ids = [server.submit_job(key) for _ in range(5)]
            counts = {"requests": 0, "errors": 0}
            lock = threading.Lock()
            stop = time.monotonic() + args.seconds
            rng = random.Random(args.seed)

            def work(index):
                session = requests.Session()
                session.headers["Authorization"] = f"Bearer {key}"
                while time.monotonic() < stop:
                    if index % 5 == 0:
                        ok = server.post_job(key, session).status_code == 202
                    else:
                        path = rng.choice([f"/api/v1/tryon/status/{rng.choice(job_ids)}",
                                           "/api/v1/tryon/jobs?limit=5", "/api/v1/credits"])
                        ok = session.get(server.url + path, timeout=30).status_code == 200
                    with lock:
                        counts["requests"] += 1
                        counts["errors"] += not ok

            threads = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
            [t.start() for t in threads]
            [t.join() for t in threads]
        finally:
            server.stop()
        log = (Path(tmp) / "server.log").read_text()
        print(f"{args.threads} threads for {args.seconds} s: {counts['requests']} requests, "
              f"{counts['errors']} errors, 'database is locked' {log.count('database is locked')}"
              " times in the server log")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    kill_parser = commands.add_parser("kill")
    kill_parser.add_argument("--jobs", type=int, default=200)
    kill_parser.add_argument("--kills", type=int, default=20)
    kill_parser.add_argument("--seed", type=int, default=1)
    contention_parser = commands.add_parser("contention")
    contention_parser.add_argument("--seconds", type=int, default=60)
    contention_parser.add_argument("--threads", type=int, default=50)
    contention_parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    {"kill": kill, "contention": contention}[args.command](args)


if __name__ == "__main__":
    main()

"""Submit throughput: accepted jobs per second with two ~300 kB JPEGs per request
(authentication, rate limit, the checks on both images and their metadata-free copies as
tryon/media/images.py makes them, atomic writes, the job row and its debit), against the same
body POSTed to a bare upload endpoint of the same server that only parses the multipart
form (the baseline), in alternating rounds. Target: >= 100 jobs/s on 2 cores.

    .venv/bin/python bench/bench_submit.py [--seconds 5] [--clients 8] [--rounds 3]

The job worker is off (TRYON_WORKERS=0) so that only the submit path is measured.
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import run_load  # noqa: E402
from bench.service import (  # noqa: E402
    BenchServer,
    alternating_rounds,
    median_of_rounds,
    multipart_body,
    photo_jpeg,
)


def measure(server, key, seconds, clients, rounds):
    """[(bare, submit)] for each of `rounds` alternating rounds."""
    person, garment = photo_jpeg(300), photo_jpeg(300, seed=1)
    body, content_type = multipart_body({"person_images": ("person.jpg", person),
                                         "garment_images": ("garment.jpg", garment)})
    auth = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    pairs = alternating_rounds(
        rounds, lambda: run_load(server.url + "/bench/upload", body=body, headers=auth,
                                 threads=clients, seconds=seconds),
        lambda: run_load(server.url + "/api/v1/tryon", body=body, headers=auth,
                         threads=clients, seconds=seconds, ok_statuses=(202,)))
    print(f"images: {len(person) // 1000} kB + {len(garment) // 1000} kB JPEG, 768x1024")
    return pairs


def report(pairs):
    print(f"{'round':<7}{'endpoint':<36}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for number, (bare, submit) in enumerate(pairs, 1):
        for name, row in (("/bench/upload (parse only, baseline)", bare),
                          ("POST /api/v1/tryon (accepted)", submit)):
            print(f"{number:<7}{name:<36}{row['rps']:>8.1f}{row['p50']:>9.1f}"
                  f"{row['p99']:>9.1f}{row['errors']:>8}")
    rates = [submit["rps"] for _, submit in pairs]
    ratio = statistics.median(submit["rps"] / bare["rps"] for bare, submit in pairs)
    print(f"accepted jobs/s: {median_of_rounds(rates, '.1f')}; target >= 100")
    print(f"submit / bare upload: {ratio:.2f} (median)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="each run (default 5)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating runs of each endpoint (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, BenchServer(tmp, WORKERS=0) as server:
        key = server.create_key("bench@example.com", credits=10_000_000)
        report(measure(server, key, args.seconds, args.clients, args.rounds))


if __name__ == "__main__":
    main()

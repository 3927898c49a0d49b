"""Submit throughput: accepted jobs per second with two ~300 kB JPEGs per request
(authentication, rate limit, the checks on both images and their metadata-free copies as
tryon/images.py makes them, atomic writes, the job row and its debit), against the same
body POSTed to a bare upload endpoint of the same server that only parses the multipart
form (the baseline). Target: >= 100 jobs/s on 2 cores.

    .venv/bin/python bench/bench_submit.py [--seconds 10] [--clients 8]

The job worker is off (TRYON_WORKERS=0) so that only the submit path is measured.
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import run_load  # noqa: E402
from bench.service import BenchServer, multipart_body, photo_jpeg  # noqa: E402


def measure(server, key, seconds, clients):
    person, garment = photo_jpeg(300), photo_jpeg(300, seed=1)
    body, content_type = multipart_body({"person_images": ("person.jpg", person),
                                         "garment_images": ("garment.jpg", garment)})
    auth = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    bare = run_load(server.url + "/bench/upload", body=body, headers=auth, threads=clients,
                    seconds=seconds)
    submit = run_load(server.url + "/api/v1/tryon", body=body, headers=auth, threads=clients,
                      seconds=seconds, ok_statuses=(202,))
    return len(person), len(garment), bare, submit


def report(person_size, garment_size, bare, submit):
    print(f"images: {person_size // 1000} kB + {garment_size // 1000} kB JPEG, 768x1024")
    print(f"{'endpoint':<36}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, row in (("/bench/upload (parse only, baseline)", bare),
                      ("POST /api/v1/tryon (accepted)", submit)):
        print(f"{name:<36}{row['rps']:>8.1f}{row['p50']:>9.1f}{row['p99']:>9.1f}{row['errors']:>8}")
    print(f"ratio submit / bare upload: {submit['rps'] / bare['rps']:.2f}; "
          f"accepted jobs/s: {submit['rps']:.1f} (target >= 100)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, BenchServer(tmp, WORKERS=0) as server:
        key = server.create_key("bench@example.com", credits=10_000_000)
        report(*measure(server, key, args.seconds, args.clients))


if __name__ == "__main__":
    main()

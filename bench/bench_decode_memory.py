"""Decode memory: the gunicorn worker's peak resident memory while 8 submits of a small
file with many pixels (a 6000x6000 greyscale PNG, 36 Mpx, tens of KB) arrive at once,
against its idle baseline. Such an upload takes the decode path (tryon/media/images.py): the
TRYON_DECODE_BUDGET_PIXELS budget decides how many decode at once.

    .venv/bin/python bench/bench_decode_memory.py [--budget PIXELS] [--rounds 3]
"""
import argparse
import io
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_status import submit_one  # noqa: E402
from bench.service import BenchServer, multipart_body, photo_jpeg  # noqa: E402

CONCURRENT = 8
SIDE = 6000


def many_pixel_png():
    """A greyscale PNG of SIDE x SIDE that compresses to a few tens of KB."""
    image = Image.new("L", (SIDE, SIDE), 200)
    ImageDraw.Draw(image).ellipse((SIDE // 4, SIDE // 8, SIDE * 3 // 4, SIDE // 2), fill=90)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def submit_together(server, key, body, content_type):
    """CONCURRENT submits released at the same moment; returns their status codes."""
    barrier = threading.Barrier(CONCURRENT)
    statuses = []

    def send():
        barrier.wait()
        statuses.append(requests.post(server.url + "/api/v1/tryon", data=body, timeout=300,
                                      headers={"Authorization": f"Bearer {key}",
                                               "Content-Type": content_type}).status_code)

    threads = [threading.Thread(target=send) for _ in range(CONCURRENT)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    return statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, help="TRYON_DECODE_BUDGET_PIXELS (default: "
                                                   "the server's default)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = {"DECODE_BUDGET_PIXELS": args.budget} if args.budget else {}
    png = many_pixel_png()
    body, content_type = multipart_body({"person_images": ("person.png", png),
                                         "garment_images": ("garment.jpg", photo_jpeg(150))})
    with tempfile.TemporaryDirectory() as tmp, BenchServer(tmp, **settings) as server:
        key = server.create_key("bench@example.com", credits=1_000_000)
        submit_one(server, key)
        time.sleep(2)                                   # let start-up allocations settle
        idle = server.rss_mb()
        for round_number in range(1, args.rounds + 1):
            started = time.monotonic()
            statuses = submit_together(server, key, body, content_type)
            print(f"round {round_number}: {statuses.count(202)}/{CONCURRENT} accepted in "
                  f"{time.monotonic() - started:.1f} s, "
                  f"peak so far {server.rss_mb('VmHWM'):.0f} MB")
        peak = server.rss_mb("VmHWM")
    print(f"upload {len(png) / 1000:.0f} KB, {SIDE}x{SIDE} greyscale PNG; budget "
          f"{args.budget or 'default'}")
    print(f"idle {idle:.0f} MB, peak {peak:.0f} MB (+{peak - idle:.0f} MB)")


if __name__ == "__main__":
    main()

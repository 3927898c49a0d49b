"""Plain helpers the tests call: an API key's header, a submitted job, waiting on a condition
with a deadline, a photo as JPEG bytes.

They live here rather than in conftest.py because conftest.py is pytest's, for fixtures:
importing from it (`from tests.helpers import ...`) loads it a second time under another
name, and it mixes what pytest injects with what a test calls.
"""
import io
import time

from PIL import Image

from tests.fakes import make_image_bytes


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def submit(client, key, person=None, garment=None, headers=None):
    """POST a job with two valid images (or the ones given); return the response."""
    data = {
        "person_images": (io.BytesIO(person or make_image_bytes()), "person.jpg"),
        "garment_images": (io.BytesIO(garment or make_image_bytes(color=(30, 90, 200))),
                           "garment.jpg"),
    }
    return client.post("/api/v1/tryon", data=data, headers={**auth(key), **(headers or {})},
                       content_type="multipart/form-data")


def wait_for(condition, timeout=15, interval=0.02):
    """Poll `condition` until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def wait_for_status(client, key, job_id, timeout=15):
    """The job's status document once it is no longer processing."""
    def finished():
        response = client.get(f"/api/v1/tryon/status/{job_id}", headers=auth(key))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return body if body["status"] != "processing" else None
    return wait_for(finished, timeout)


def rgb_jpeg(rgb, size=None, quality=92):
    """An RGB array (e.g. a scikit-image photo) as JPEG bytes, resized to `size` if given."""
    image = Image.fromarray(rgb)
    if size:
        image = image.resize(size, Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()

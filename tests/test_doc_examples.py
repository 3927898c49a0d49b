"""The documentation's own examples (tryon/doc_examples, which /docs shows), run against a
live server with only the domain (and, for curl, the placeholders) replaced."""
import json
import shutil
import subprocess

import pytest
import requests

from tests.fakes import make_image_bytes
from tests.image_server import LocalHttpServer
from tests.live import LiveServer
from tryon.web import doc_examples

pytestmark = pytest.mark.slow   # subprocesses against a live server: `make test-fast` leaves it out

DOMAIN = doc_examples.PLACEHOLDER_DOMAIN


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("docs"), WORKERS=1,
                      URL_INPUT_ALLOW="127.0.0.1").start()
    yield live
    live.stop()


def test_python_example_works_unchanged(server, photos):
    _, key = server.create_user("python-example@example.com", credits=5)
    source = doc_examples.for_server("python", server.url)
    namespace = {}
    exec(compile(source, "generate_tryon.py", "exec"), namespace)
    result_url = namespace["generate_tryon"](key, *map(str, photos))
    assert result_url.startswith(server.url + "/files/results/")
    image = requests.get(result_url, timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_example_works(server, photos):
    _, key = server.create_user("curl-example@example.com", credits=5)
    person, garment = photos
    script = doc_examples.source("curl")
    submit_cmd, status_cmd = [block for block in script.split("# ")
                              if block.startswith(("Submit", "Check"))]

    def run(block, job_id="b16367b3-61a4-40aa-a713-f91889c3dae9"):
        command = (block.split("\n", 1)[1]
                   .replace(DOMAIN, server.url).replace("your_api_key_here", key)
                   .replace("/path/to/person.jpg", str(person))
                   .replace("/path/to/garment.jpg", str(garment))
                   .replace("b16367b3-61a4-40aa-a713-f91889c3dae9", job_id))
        output = subprocess.run(["bash", "-c", command.rstrip() + " -sS"], capture_output=True,
                                text=True, timeout=30, check=True).stdout
        return json.loads(output)

    submitted = run(submit_cmd)
    assert set(submitted) == {"jobId", "statusUrl"}
    status = run(status_cmd, submitted["jobId"])
    assert status["jobId"] == submitted["jobId"]
    assert status["status"] in ("processing", "completed")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_javascript_example_works_unchanged_with_url_inputs(server):
    _, key = server.create_user("js-example@example.com", credits=5)
    images = LocalHttpServer().start()
    try:
        images.add("/person.jpg", make_image_bytes())
        images.add("/garment.jpg", make_image_bytes(color=(200, 30, 30)))
        source = doc_examples.for_server("js", server.url)
        call = (f"\ngenerateTryOn({json.dumps(key)}, {json.dumps(images.url + '/person.jpg')}, "
                f"{json.dumps(images.url + '/garment.jpg')})"
                ".then(url => console.log(url), "
                "err => { console.error(err); process.exit(1); });\n")
        result = subprocess.run(["node", "-e", source + call], capture_output=True, text=True,
                                timeout=60)
    finally:
        images.stop()
    assert result.returncode == 0, result.stderr
    result_url = result.stdout.strip()
    assert result_url.startswith(server.url + "/files/results/")
    assert requests.get(result_url, timeout=10).status_code == 200

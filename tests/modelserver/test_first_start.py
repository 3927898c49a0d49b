"""A model server's first start on a real process: the weights come from a fake Hugging Face
hub (tests/modelserver/fake_hub.py) at the revision the model pins, /readyz reports the
download's progress while it runs, and the model (tiny random weights saved in the real
FLUX.2 klein folder layout, loaded by the real flux2-klein-4b module) then serves a job. Also
the in-process out-of-memory path with the real tiny pipeline."""
import pytest
import requests

from tests.helpers import wait_for
from tests.modelserver.fake_hub import FakeHub
from tests.modelserver.fakes import build_server, jpeg_data_uri
from tests.modelserver.processes import ModelServerProcess
from tryon.modelserver.app import create_app
from tryon.modelserver.models import model_spec
from tryon.modelserver.models.tiny_random import build_tiny_flux2_klein_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_klein_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("klein")
    build_tiny_flux2_klein_pipeline().save_pretrained(folder)
    return folder


def readyz(server):
    try:
        return requests.get(server.url + "/readyz", timeout=5).json()
    except requests.ConnectionError:
        return {}


def test_a_first_start_downloads_reports_progress_then_serves(tmp_path, tiny_klein_folder):
    spec = model_spec("flux2-klein-4b")
    with FakeHub(tiny_klein_folder, spec.repo_id, spec.revision) as hub:
        largest = max(hub.files, key=lambda name: len(hub.files[name].data))
        trickle = hub.trickle(largest, hold_last_chunk=True)
        server = ModelServerProcess(tmp_path / "ms", "--cache-dir", str(tmp_path / "cache"),
                                    "--device", "cpu", model="flux2-klein-4b",
                                    env={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"})
        server.start()
        try:
            assert trickle.held.wait(60), server.log()
            answer = wait_for(lambda: (body := readyz(server)).get("progress") and body,
                              timeout=30)
            assert answer["state"] == "downloading"
            assert 0 < answer["progress"] < 1
            assert requests.post(server.url + "/v1/tryon", json={}, timeout=5).status_code \
                == 503
            trickle.release.set()
            server.wait_ready()
            job = requests.post(server.url + "/v1/tryon", timeout=30, json={
                "person_image": jpeg_data_uri((160, 200)), "garment_image": jpeg_data_uri()})
            assert job.status_code == 202, job.text
            status_url = f"{server.url}/v1/tryon/{job.json()['id']}"
            done = wait_for(lambda: (state := requests.get(status_url, timeout=5).json())[
                "status"] in ("completed", "failed") and state, timeout=60)
            assert done["status"] == "completed", done
            info = requests.get(server.url + "/v1/info", timeout=5).json()
            assert (info["model"], info["revision"]) == ("flux2-klein-4b", spec.revision)
            assert info["device"] == "cpu" and info["memoryBytes"] > 0
        finally:
            server.stop()
        asked = {request.path for request in hub.requests()}
        assert any(f"/revision/{spec.revision}" in path for path in asked), asked


def test_a_start_offline_without_the_weights_exits_naming_the_fix(tmp_path):
    server = ModelServerProcess(tmp_path / "ms", "--cache-dir", str(tmp_path / "cache"),
                                "--offline", "yes", "--device", "cpu",
                                model="flux2-klein-4b").start()
    assert server.process.wait(120) != 0
    log = server.log()
    assert "--model-path" in log and "hf download" in log, log


def test_a_real_model_on_a_machine_without_a_gpu_stops_before_downloading(tmp_path,
                                                                          tiny_klein_folder):
    spec = model_spec("flux2-klein-4b")
    with FakeHub(tiny_klein_folder, spec.repo_id, spec.revision) as hub:
        server = ModelServerProcess(tmp_path / "ms", "--cache-dir", str(tmp_path / "cache"),
                                    model="flux2-klein-4b",
                                    env={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"})
        assert server.start().process.wait(120) != 0
        assert not hub.requests()
    log = server.log()
    assert "no CUDA GPU" in log and "--device cpu" in log, log


def test_out_of_memory_in_the_real_pipeline_fails_one_job_and_the_next_runs(tmp_path,
                                                                            monkeypatch):
    import torch

    server = build_server(tmp_path, spec=model_spec("tiny-random")).start()
    try:
        assert server.readiness.wait_ready(60)
        model = server.readiness.model
        transformer = model.pipeline.transformer
        real_forward = transformer.forward
        calls = {"n": 0}

        def forward_that_runs_out_once(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 1:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
            return real_forward(*args, **kwargs)

        monkeypatch.setattr(transformer, "forward", forward_that_runs_out_once)
        client = create_app(server).test_client()
        body = {"person_image": jpeg_data_uri((128, 160)), "garment_image": jpeg_data_uri()}
        first = client.post("/v1/tryon", json=body, headers={"Idempotency-Key": "a"}).get_json()
        second = client.post("/v1/tryon", json=body, headers={"Idempotency-Key": "b"}).get_json()

        def state(job_id):
            return client.get(f"/v1/tryon/{job_id}").get_json()

        wait_for(lambda: state(second["id"])["status"] in ("completed", "failed"), timeout=60)
        failed = state(first["id"])
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "GENERATION_FAILED"
        assert "out of GPU memory" in failed["error"]["message"]
        assert state(second["id"])["status"] == "completed"
        assert not server.fatal.messages
    finally:
        server.stop(timeout=30)

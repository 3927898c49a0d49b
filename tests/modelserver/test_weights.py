"""Fetching weights (tryon/modelserver/weights.py) through the real huggingface_hub client,
against a fake Hub on 127.0.0.1 (tests/modelserver/fake_hub.py): the pinned revision lands in
the cache with honest progress, the cache then serves offline, and every way of not getting
the weights is a WeightsUnavailable that names the fix."""
import itertools
import json
import logging
import socket
import threading
import time

import pytest

from tests.modelserver.fake_hub import FakeHub
from tryon.modelserver.models.base import ExtraDownload, ModelSpec
from tryon.modelserver.weights import (
    WeightsUnavailable,
    _ByteProgress,
    cached_repo_folder,
    extra_folders,
    fetch_weights,
)

REPO_ID = "acme/tiny-pipeline"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
WANTED = ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.bin")
LORA = "lora/pytorch_lora_weights.safetensors"


class TinySpec(ModelSpec):
    name = "tiny-test"
    repo_id = REPO_ID
    revision = COMMIT
    allow_patterns = ("model_index.json", "unet/*")

    def load(self, weights_dir, placement):
        raise NotImplementedError("these tests only fetch weights")


class LoraSpec(TinySpec):
    extra_downloads = (ExtraDownload("lora", REPO_ID, COMMIT, ("lora/*",)),)


class NoWeightsSpec(TinySpec):
    repo_id = None
    revision = None


class Progress:
    """Records progress(fraction, detail) calls; a test can wait for one that matches."""

    def __init__(self):
        self.values = []
        self._changed = threading.Condition()

    def __call__(self, fraction, detail):
        with self._changed:
            self.values.append(fraction)
            self._changed.notify_all()

    def wait_for(self, predicate, timeout_s=10):
        with self._changed:
            if not self._changed.wait_for(lambda: any(map(predicate, self.values)), timeout_s):
                raise AssertionError(f"no progress value matched; saw {self.values}")


@pytest.fixture(autouse=True)
def hub_client_online(monkeypatch):
    """The tests talk to a fake Hub on 127.0.0.1: an HF_HUB_OFFLINE=1 in the developer's
    environment (read once, as huggingface_hub loads) must not switch its client off."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def repo_folder(tmp_path):
    """A diffusers-shaped repository: an index, a unet with a config and a 300 KB binary
    (served as an LFS file), a LoRA, and a README the allow patterns leave out."""
    folder = tmp_path / "repo"
    (folder / "unet").mkdir(parents=True)
    (folder / "lora").mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "TinyPipeline"}))
    (folder / "unet" / "config.json").write_text(json.dumps({"sample_size": 8}))
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(bytes(range(256)) * 1200)
    (folder / LORA).write_bytes(b"lora" * 40_000)
    (folder / "README.md").write_text("not wanted")
    return folder


@pytest.fixture
def hub(repo_folder):
    with FakeHub(repo_folder, REPO_ID, COMMIT) as fake_hub:
        yield fake_hub


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def files_under(folder):
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in folder.rglob("*") if path.is_file()}


def test_downloads_the_pinned_revision_with_monotonic_progress(hub, repo_folder, cache_dir):
    progress = Progress()
    folder = fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=hub.url,
                           progress=progress)
    assert folder.is_relative_to(cache_dir)
    assert files_under(folder) == {name: (repo_folder / name).read_bytes() for name in WANTED}
    api_paths = {request.path for request in hub.requests() if request.path.startswith("/api/")}
    assert api_paths == {f"/api/models/{REPO_ID}/revision/{COMMIT}",
                         f"/api/models/{REPO_ID}/tree/{COMMIT}"}
    resolved = {request.path.split("/")[4] for request in hub.requests()
                if "/resolve/" in request.path}
    assert resolved == {COMMIT}
    assert progress.values == sorted(progress.values)
    assert progress.values[-1] == 1.0
    # The files are smaller than huggingface_hub's 10 MB read chunk, so each value is the
    # share of whole files done: bytes counted once, not once per internal counter.
    sizes = [len((repo_folder / name).read_bytes()) for name in WANTED]
    whole_files = {sum(subset) / sum(sizes) for subset in itertools.chain.from_iterable(
        itertools.combinations(sizes, count) for count in range(len(sizes) + 1))}
    assert set(progress.values) <= whole_files
    assert len(hub.file_downloads()) == len(WANTED)


def test_a_held_download_shows_partial_progress(hub, cache_dir):
    trickle = hub.trickle("unet/diffusion_pytorch_model.bin", chunk_bytes=50_000,
                          hold_last_chunk=True)
    progress = Progress()
    outcome = {}

    def fetch():
        outcome["folder"] = fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=hub.url,
                                          progress=progress)

    fetcher = threading.Thread(target=fetch)
    fetcher.start()
    try:
        assert trickle.held.wait(10), "the binary's download never reached its last chunk"
        progress.wait_for(lambda fraction: 0.0 < fraction < 1.0)
        assert 1.0 not in progress.values
    finally:
        trickle.release.set()
        fetcher.join(timeout=30)
    assert not fetcher.is_alive()
    assert progress.values[-1] == 1.0
    assert progress.values == sorted(progress.values)
    assert (outcome["folder"] / "unet" / "diffusion_pytorch_model.bin").stat().st_size == 307_200


def test_the_cache_serves_a_second_call_and_offline(hub, cache_dir):
    first = fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=hub.url)
    asked_before = len(hub.requests())
    progress = Progress()
    again = fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=hub.url, progress=progress)
    offline = fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=closed_port_url(),
                            offline=True)
    assert again == offline == first
    assert len(hub.requests()) == asked_before   # a pinned commit in the cache: no Hub
    assert progress.values == [1.0]


def test_only_the_missing_files_are_downloaded(hub, cache_dir):
    class WithoutConfigSpec(TinySpec):
        allow_patterns = ("model_index.json", "unet/*.bin")

    fetch_weights(WithoutConfigSpec(), cache_dir=cache_dir, endpoint=hub.url)
    downloads_before = len(hub.file_downloads())
    progress = Progress()
    folder = fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=hub.url,
                           progress=progress)
    new_downloads = hub.file_downloads()[downloads_before:]
    assert [request.path.rsplit("/", 2)[-2:] for request in new_downloads] == [
        ["unet", "config.json"]]
    assert (folder / "unet" / "config.json").is_file()
    assert progress.values[0] > 0.99   # the cached binary counts as done from the start
    assert progress.values[-1] == 1.0


def test_extra_downloads_are_fetched_and_found_in_the_cache(hub, cache_dir):
    fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=hub.url)
    downloads_before = len(hub.file_downloads())
    progress = Progress()
    fetch_weights(LoraSpec(), cache_dir=cache_dir, endpoint=hub.url, progress=progress)
    new_downloads = hub.file_downloads()[downloads_before:]
    assert [request.path.startswith("/cdn/") for request in new_downloads] == [True]
    lora_folder = cached_repo_folder(REPO_ID, COMMIT, ("lora/*",), cache_dir=cache_dir)
    assert (lora_folder / LORA).read_bytes() == b"lora" * 40_000
    assert extra_folders(LoraSpec(), cache_dir=cache_dir) == {"lora": lora_folder}
    assert progress.values[-1] == 1.0


def test_a_repository_missing_from_the_cache_names_the_fix(cache_dir):
    with pytest.raises(WeightsUnavailable, match="--model-path"):
        cached_repo_folder(REPO_ID, COMMIT, ("lora/*",), cache_dir=cache_dir)


def test_offline_with_an_empty_cache_names_the_fix(hub, cache_dir):
    with pytest.raises(WeightsUnavailable) as raised:
        fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=hub.url, offline=True)
    message = str(raised.value)
    assert "--model-path" in message and "TRYON_MODELSERVER_MODEL_PATH" in message
    assert f"hf download {REPO_ID} --revision {COMMIT}" in message
    assert "offline" in message
    assert hub.requests() == []


def test_an_unreachable_hub_fails_quickly(cache_dir):
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable, match="could not be reached") as raised:
        fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=closed_port_url(),
                      timeout_s=2)
    assert time.monotonic() - started < 3
    assert "--model-path" in str(raised.value)


def test_an_unreachable_hub_falls_back_to_a_cached_branch(hub, cache_dir):
    class BranchSpec(TinySpec):
        revision = "main"

    cached = fetch_weights(BranchSpec(), cache_dir=cache_dir, endpoint=hub.url)
    assert fetch_weights(BranchSpec(), cache_dir=cache_dir,
                         endpoint=closed_port_url()) == cached


def test_a_revision_the_hub_lacks_is_a_clear_error(hub, cache_dir):
    class MissingRevisionSpec(TinySpec):
        revision = "f" * 40

    with pytest.raises(WeightsUnavailable, match=f"has no revision {'f' * 40}"):
        fetch_weights(MissingRevisionSpec(), cache_dir=cache_dir, endpoint=hub.url)


def test_an_unknown_repository_is_a_clear_error(hub, cache_dir):
    class UnknownRepoSpec(TinySpec):
        repo_id = "acme/missing"

    with pytest.raises(WeightsUnavailable, match="acme/missing was not found"):
        fetch_weights(UnknownRepoSpec(), cache_dir=cache_dir, endpoint=hub.url)


def test_model_path_must_be_a_diffusers_folder(repo_folder, tmp_path):
    assert fetch_weights(TinySpec(), model_path=repo_folder) == repo_folder
    (repo_folder / "model_index.json").unlink()
    with pytest.raises(WeightsUnavailable, match="no model_index.json"):
        fetch_weights(TinySpec(), model_path=repo_folder)
    with pytest.raises(WeightsUnavailable, match="no such folder"):
        fetch_weights(TinySpec(), model_path=tmp_path / "absent")


def test_a_spec_without_a_repository_fetches_nothing(hub, cache_dir):
    assert fetch_weights(NoWeightsSpec(), cache_dir=cache_dir, endpoint=hub.url) is None
    assert hub.requests() == []
    assert not cache_dir.exists()


def test_progress_lines_in_the_log_are_throttled(hub, cache_dir, caplog):
    caplog.set_level(logging.INFO, logger="tryon.modelserver.weights")
    fetch_weights(TinySpec(), cache_dir=cache_dir, endpoint=hub.url, log_interval_s=3600)
    progress_lines = [record.getMessage() for record in caplog.records
                      if record.getMessage().startswith("weights:")]
    assert progress_lines == ["weights: 0% (acme/tiny-pipeline: 0 B of 307.2 KB)",
                              "weights: 100% (weights ready)"]


def test_progress_never_goes_back_when_a_retry_rolls_bytes_back():
    # huggingface_hub's http_get rolls a bar back (update(-n)) when a resumed download has
    # to start over; files here are too small to reach that path through the fake Hub.
    progress = Progress()
    reporter = _ByteProgress(report=progress, log_interval_s=60)
    reporter.expect(total_bytes=100)
    bar = object()
    reporter.start_repo("acme/tiny", cached_bytes=0)
    reporter.count(bar, 60)
    reporter.count(bar, -60)
    reporter.count(bar, 30)
    reporter.count(bar, 40)
    reporter.end_repo(downloaded_bytes=100)
    reporter.finish()
    assert progress.values == [0.0, 0.6, 0.7, 1.0]

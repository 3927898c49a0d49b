"""fetch_models without the network: a local wheel, hash checks, idempotence, atomic writes."""

import zipfile

import pytest

from tryon.engine import fetch_models as fetch
from tryon.engine import models
from tryon.engine.models import ModelFile, sha256_of

FAKE_CONTENTS = {name: f"fake {name}".encode() for name in ("a.tflite", "b.tflite", "c.tflite")}


@pytest.fixture
def fake_models(monkeypatch):
    """Pretend the engine needs three tiny files, so no real model or network is involved."""
    files = tuple(
        ModelFile(name, f"mediapipe/modules/x/{name}", sha256_of(data))
        for name, data in FAKE_CONTENTS.items()
    )
    monkeypatch.setattr(models, "MODEL_FILES", files)
    monkeypatch.setattr(fetch, "MODEL_FILES", files)

    def no_network(*args, **kwargs):
        raise AssertionError("fetch_models tried to download")

    monkeypatch.setattr(fetch, "_download_wheel", no_network)
    return files


def make_wheel(path, contents):
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in contents.items():
            wheel.writestr(f"mediapipe/modules/x/{name}", data)
    return path


def test_installs_verified_files_from_a_local_wheel(tmp_path, fake_models):
    wheel = make_wheel(tmp_path / "mediapipe.whl", FAKE_CONTENTS)
    dest = tmp_path / "models"
    assert fetch.fetch_models(dest, wheel, log=lambda message: None) is True
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == FAKE_CONTENTS


def test_second_run_with_valid_files_does_nothing(tmp_path, fake_models):
    dest = tmp_path / "models"
    dest.mkdir()
    for name, data in FAKE_CONTENTS.items():
        (dest / name).write_bytes(data)
    messages = []
    assert fetch.fetch_models(dest, log=messages.append) is False  # _download_wheel would raise
    assert "nothing to do" in messages[0]


def test_hash_mismatch_is_refused_and_nothing_is_written(tmp_path, fake_models):
    tampered = dict(FAKE_CONTENTS, **{"b.tflite": b"tampered"})
    wheel = make_wheel(tmp_path / "mediapipe.whl", tampered)
    dest = tmp_path / "models"
    with pytest.raises(fetch.FetchError, match="sha256 mismatch for b.tflite"):
        fetch.fetch_models(dest, wheel, log=lambda message: None)
    assert not dest.exists() or not any(dest.iterdir())


def test_wheel_without_the_models_is_refused(tmp_path, fake_models):
    wheel = make_wheel(tmp_path / "other.whl", {"a.tflite": FAKE_CONTENTS["a.tflite"]})
    with pytest.raises(fetch.FetchError, match="does not contain"):
        fetch.fetch_models(tmp_path / "models", wheel, log=lambda message: None)


def test_command_line_reports_errors_and_exit_status(tmp_path, fake_models, capsys):
    not_a_wheel = tmp_path / "broken.whl"
    not_a_wheel.write_bytes(b"garbage")
    assert fetch.main(["--dest", str(tmp_path / "models"), "--wheel", str(not_a_wheel)]) == 1
    assert "not a readable wheel" in capsys.readouterr().err


def test_pinned_hashes_match_the_documented_model_files():
    assert [m.name for m in models.MODEL_FILES] == [
        "pose_landmark_full.tflite",
        "selfie_segmentation.tflite",
        "face_detection_short_range.tflite",
    ]
    assert all(len(m.sha256) == 64 for m in models.MODEL_FILES)

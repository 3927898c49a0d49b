"""The model server's install: every requirement pinned exactly, so that pip takes the torch
release CI tested (2.13.0, the CPU build on the CI machines' disk) and a range can never pull
a multi-GB CUDA build into CI; `make run` stays without it."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def requirement_lines(name):
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_every_model_server_requirement_is_pinned():
    lines = requirement_lines("requirements-modelserver.txt")
    assert "-r requirements.txt" in lines
    pins = [line for line in lines if not line.startswith("-r")]
    assert "torch==2.13.0" in pins
    for line in pins:
        assert "==" in line and not any(mark in line for mark in "<>~*"), line


def test_the_service_install_has_no_model_stack_and_the_test_install_has_it():
    service = " ".join(requirement_lines("requirements.txt"))
    assert "torch" not in service and "diffusers" not in service
    assert "-r requirements-modelserver.txt" in requirement_lines("requirements-test.txt")

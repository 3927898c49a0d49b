"""The model server's flags and their TRYON_MODELSERVER_* variables."""
from pathlib import Path

import pytest

from tryon.modelserver.settings import build_parser, parse_settings

NAMES = ("flux2-klein-4b", "tiny-random")


def test_defaults_need_nothing_set():
    settings = parse_settings([], NAMES, environ={})
    assert settings.model == "flux2-klein-4b"
    assert (settings.host, settings.port) == ("127.0.0.1", 9000)
    assert settings.token is None and settings.offload == "auto"


def test_variables_set_the_defaults_and_flags_win():
    environ = {"TRYON_MODELSERVER_MODEL": "tiny-random", "TRYON_MODELSERVER_MAX_QUEUE": "3",
               "TRYON_MODELSERVER_BIND": "0.0.0.0:9100", "TRYON_MODELSERVER_OFFLINE": "yes",
               "TRYON_MODELSERVER_MODEL_PATH": "/srv/klein"}
    settings = parse_settings(["--max-queue", "5"], NAMES, environ=environ)
    assert settings.model == "tiny-random" and settings.max_queue == 5
    assert (settings.host, settings.port) == ("0.0.0.0", 9100)
    assert settings.offline is True and settings.model_path == Path("/srv/klein")


@pytest.mark.parametrize("argv", [["--model", "sd15"], ["--bind", "9000"],
                                  ["--max-queue", "0"], ["--offload", "sometimes"],
                                  ["--offline", "perhaps"]])
def test_bad_values_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_settings(argv, NAMES, environ={})
    assert exit_.value.code == 2
    assert "error" in capsys.readouterr().err


def test_help_names_each_variable():
    text = build_parser(NAMES, environ={}).format_help()
    for variable in ("MODEL", "BIND", "TOKEN", "MAX_QUEUE", "RESULTS_DIR", "RESULT_TTL",
                     "MODEL_PATH", "CACHE_DIR", "OFFLINE", "DEVICE", "OFFLOAD", "KEEP_FACE",
                     "URL_ALLOW", "LIGHTNING_STEPS"):
        assert f"TRYON_MODELSERVER_{variable}" in text.replace("\n", " ").replace("  ", "")


def test_help_runs_without_loading_torch():
    import subprocess
    import sys

    code = ("import sys, runpy; sys.argv = ['x', '--help']\n"
            "try:\n    runpy.run_module('tryon.modelserver', run_name='__main__')\n"
            "except SystemExit as exit_:\n"
            "    assert exit_.code == 0\n"
            "    assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n"
            "    print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr
    assert "TRYON_MODELSERVER_MODEL" in result.stdout

"""The README documents every setting and every errorCode the code can produce."""
from pathlib import Path

from tryon import config, errors

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table():
    for setting in config.SETTINGS:
        assert f"| `TRYON_{setting.name}` |" in README, setting.name


def test_every_job_error_code_is_documented():
    for code in errors.JOB_ERROR_CODES:
        assert f"| `{code}` |" in README, code


def test_first_lines_are_the_two_commands():
    assert README.split("```sh\n", 1)[1].startswith("make run ")
    assert "\nmake test " in README.split("```", 2)[1]

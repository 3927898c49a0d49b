"""The README documents every setting and every errorCode the code can produce, its First
steps work when pasted, it stays a short guide, and its links into docs/ resolve."""
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench.service import free_port
from tryon import config, errors
from tryon.store import accounts, db

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table():
    for setting in config.SETTINGS:
        assert f"| `TRYON_{setting.name}` |" in README, setting.name


def test_every_job_error_code_is_documented():
    for code in errors.JOB_ERROR_CODES:
        assert f"| `{code}` |" in README, code


def test_first_lines_are_the_two_commands():
    assert README.split("```sh\n", 1)[1].startswith("make run ")
    assert "\nmake test " in README.split("```", 2)[1]


def first_steps_block():
    section = README.split("## First steps\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_first_steps_run_as_pasted(tmp_path):
    """The First-steps block, run by bash as one piece (as a paste runs it), starts the
    server, makes the account and the key and ends with a completed try-on. Only the port,
    the instance folder and the log's place differ, so that it runs beside anything else."""
    port = free_port()
    script = (first_steps_block().replace("127.0.0.1:5000", f"127.0.0.1:{port}")
              .replace("make run ", f"make run PORT={port} ")
              .replace("tryon.log", str(tmp_path / "tryon.log")))
    env = {**os.environ, "TRYON_INSTANCE_PATH": str(tmp_path / "instance"), "TRYON_WORKERS": "1"}
    env.pop("MAKEFLAGS", None)
    # A session of its own, so that the server the block leaves in the background is
    # stopped with it however the test ends.
    # Output to a file, not a pipe: a server left in the background would hold a pipe open.
    log = tmp_path / "first-steps.out"
    with open(log, "w") as out:
        process = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        returncode = process.wait(timeout=240)
    except subprocess.TimeoutExpired:
        returncode = None
    finally:
        _stop_group(process.pid)
    output = log.read_text()
    lines = output.strip().splitlines()
    assert returncode == 0, output
    assert json.loads(lines[-1])["status"] == "completed", output
    password = next(line.rsplit("password ", 1)[1] for line in lines if "log in as" in line)
    conn = db.connect(str(tmp_path / "instance" / "tryon.sqlite3"))
    try:
        user = accounts.find_user_by_email(conn, "me@example.com")
        assert user["is_admin"] and accounts.check_password(user, password)
    finally:
        conn.close()


def _stop_group(pgid):
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)


def test_the_readme_stays_a_guide():
    """History and long analyses belong in docs/ (issue 16): the README stays short enough
    to read through."""
    assert len(README.encode()) <= 30_000


def _slug(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_between_the_readme_and_docs_resolve():
    """The README points into docs/ for the details it no longer holds; a moved file or a
    renamed heading would leave a reader at a dead end."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # an absolute URL
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: {target}"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
                assert anchor in {_slug(h) for h in headings}, f"{page.name}: {target}"


def test_every_model_server_variable_is_in_the_configuration_table():
    from tryon.modelserver.settings import ENV_PREFIX, build_parser

    parser = build_parser(("flux2-klein-4b",), environ={})
    flags = [action.option_strings[0] for action in parser._actions
             if action.option_strings and action.option_strings[0].startswith("--")
             and action.dest != "help"]
    assert len(flags) > 10
    for flag in flags:
        variable = ENV_PREFIX + flag[2:].replace("-", "_").upper()
        assert f"| `{variable}` |" in README, variable

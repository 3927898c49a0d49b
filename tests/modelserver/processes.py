"""Model server processes for end-to-end tests: `python -m tryon.modelserver` started as an
operator starts it, on a port chosen up front (so a killed server can come back on it)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from bench.service import free_port
from tests.helpers import wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ModelServerProcess:
    def __init__(self, folder, *args, model="tiny-random", token=None, env=None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--model", model, "--bind", f"127.0.0.1:{self.port}",
                     "--results-dir", str(self.folder / "results"), *args]
        self.env = {**{k: v for k, v in os.environ.items()
                       if not k.startswith("TRYON_MODELSERVER_")},
                    "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
        if token:
            self.env["TRYON_MODELSERVER_TOKEN"] = token
        self.log_path = self.folder / "modelserver.log"
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tryon.modelserver", *self.args], cwd=PROJECT_ROOT,
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout=120):
        wait_for(self._ready, timeout=timeout, interval=0.1)
        return self

    def _ready(self):
        if self.process.poll() is not None:
            raise AssertionError(f"the model server exited ({self.process.returncode}):\n"
                                 + self.log())
        try:
            return requests.get(self.url + "/readyz", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def info(self, headers=None):
        return requests.get(self.url + "/v1/info", headers=headers, timeout=10).json()

    def kill(self):
        """SIGKILL: no clean-up, like a crash or the kernel's OOM killer."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

"""The layers' one-way rule: the core (queue, store, media, providers, engine, and the model
server's own core and models) runs without Flask, so a test, a script or another front end can
drive it directly."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE_PACKAGES = ("tryon.queue", "tryon.store", "tryon.media", "tryon.providers", "tryon.engine")
CORE_MODULES = ("tryon.errors", "tryon.config", "tryon.services",
                # the model server: all but its HTTP side (app.py, __main__.py)
                "tryon.modelserver.jobs", "tryon.modelserver.generation",
                "tryon.modelserver.readiness", "tryon.modelserver.results",
                "tryon.modelserver.inputs", "tryon.modelserver.server",
                "tryon.modelserver.settings", "tryon.modelserver.weights",
                "tryon.modelserver.devices", "tryon.modelserver.faces",
                "tryon.modelserver.models", "tryon.modelserver.models.base",
                "tryon.modelserver.models.editing", "tryon.modelserver.models.flux2_klein",
                "tryon.modelserver.models.qwen_image_edit",
                "tryon.modelserver.models.tiny_random")

# Run in a fresh interpreter where importing flask (or a flask extension) fails.
IMPORT_WITHOUT_FLASK = """
import importlib, pkgutil, sys

class NoFlask:
    def find_spec(self, name, path=None, target=None):
        if name == "flask" or name.startswith(("flask.", "flask_")):
            raise ImportError(f"flask is hidden in this test: {name}")
        return None

sys.meta_path.insert(0, NoFlask())
packages = sys.argv[1].split(",")
modules = [name for name in sys.argv[2].split(",") if name]
for package_name in packages:
    package = importlib.import_module(package_name)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        modules.append(info.name)
for name in modules:
    importlib.import_module(name)
print(len(modules), "modules")
"""


def test_the_core_imports_without_flask():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_FLASK, ",".join(CORE_PACKAGES),
         ",".join(CORE_MODULES)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[0]) > 30


def test_the_guard_in_this_test_does_hide_flask():
    result = subprocess.run([sys.executable, "-c", IMPORT_WITHOUT_FLASK, "tryon.web", ""],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "flask is hidden" in result.stderr

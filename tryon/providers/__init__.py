"""Provider registry: TRYON_PROVIDER names one of these factories.

A registry lives on each app (services.of(app).providers); tests register fakes on
their own app's registry. Factories take the app config and return a Provider; each
provider is built once per app, on first use.
"""
import threading

from .base import (
    GenerationRequest,
    GenerationResult,
    InputImage,
    JobContext,
    Provider,
    ProviderError,
)

__all__ = ["GenerationRequest", "GenerationResult", "InputImage", "JobContext", "Provider",
           "ProviderError", "ProviderRegistry", "UnknownProvider", "default_registry"]


class UnknownProvider(LookupError):
    pass


class ProviderRegistry:
    def __init__(self, config):
        self._config = config
        self._factories = {}
        self._instances = {}
        self._lock = threading.Lock()

    def register(self, name, factory):
        with self._lock:
            self._factories[name] = factory
            self._instances.pop(name, None)

    def names(self):
        return sorted(self._factories)

    def get(self, name):
        with self._lock:
            if name not in self._instances:
                if name not in self._factories:
                    raise UnknownProvider(
                        f"Unknown provider {name!r}; known providers: {', '.join(self.names())}.")
                self._instances[name] = self._factories[name](self._config)
            return self._instances[name]

    def status(self, name):
        """Whether provider `name` can run jobs, and what keeps it from it (for /healthz, the
        admin page and the worker's start-up log)."""
        try:
            problems = self.get(name).configuration_problems()
        except UnknownProvider as exc:
            problems = [str(exc)]
        return {"name": name, "ready": not problems, "problems": problems}


def default_registry(config):
    from .fal import FalProvider
    from .fashn import FashnProvider
    from .http import HttpProvider
    from .local import LocalProvider
    from .replicate import ReplicateProvider

    registry = ProviderRegistry(config)
    registry.register("local", LocalProvider.from_config)
    registry.register("fashn", FashnProvider.from_config)
    registry.register("replicate", ReplicateProvider.from_config)
    registry.register("fal", FalProvider.from_config)
    registry.register("http", HttpProvider.from_config)
    return registry

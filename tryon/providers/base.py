"""The provider interface: how a job's images become a try-on picture.

A provider gets a GenerationRequest (normalised person and garment images plus options) and
a JobContext, and returns a GenerationResult or raises ProviderError with one of the
documented errorCodes. Providers know nothing of Flask, the database or the object store.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True)
class InputImage:
    data: bytes          # encoded image (JPEG as stored by tryon.media.images)
    mime: str
    width: int
    height: int
    # A time-limited public URL of the same image, set when TRYON_PUBLIC_BASE_URL is a public
    # address: remote providers may fetch it instead of receiving the bytes inline.
    url: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    job_id: str
    person: InputImage
    garment: InputImage
    options: dict = field(default_factory=dict)


@dataclass
class GenerationResult:
    image: bytes                                  # encoded image, any format Pillow decodes
    metadata: dict = field(default_factory=dict)  # shown in the job's "result" (JSON-able)


class ProviderError(Exception):
    """A generation failure with the errorCode it maps to.

    `provider_error` / `provider_message` keep the provider's own name and text for the
    job's result; `step` says where it failed (default "generate").
    """

    def __init__(self, error_code, message, *, provider_error=None, provider_message=None,
                 step="generate"):
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.provider_error = provider_error
        self.provider_message = provider_message
        self.step = step

    def details(self):
        details = {}
        if self.provider_error or self.provider_message:
            details["providerError"] = {"name": self.provider_error,
                                        "message": self.provider_message}
        return details


class JobContext:
    """What a provider may know and keep about the job it runs.

    `remote_state` is what the provider saved on an earlier attempt (e.g. a remote job id),
    so that after a restart it resumes the same remote job instead of paying for another;
    `save_remote_state` stores it at once. `deadline` is a time.monotonic() value.
    """

    def __init__(self, remote_state=None, save_remote_state=None, deadline=None):
        self.remote_state = dict(remote_state or {})
        self._save = save_remote_state
        self.deadline = deadline

    def save_remote_state(self, state):
        self.remote_state = dict(state)
        if self._save is not None:
            self._save(self.remote_state)


class Provider(ABC):
    name = "provider"

    def configuration_problems(self):
        """What is missing or wrong in this provider's configuration ([] when ready)."""
        return []

    # An optional hook, not an abstract method: most providers have nothing to load.
    def warm_up(self):  # noqa: B027
        """Load what the first job would otherwise wait for (called at worker start)."""

    @abstractmethod
    def generate(self, request, context):
        """Return a GenerationResult or raise ProviderError."""

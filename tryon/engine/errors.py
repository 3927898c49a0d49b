"""Errors raised by the try-on engine.

Every error carries a human-readable ``reason`` that says what is wrong with the
input and what would be accepted instead, so callers can show it to a user as is.
"""


class EngineError(Exception):
    """Base class of everything the engine raises on purpose."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class PersonImageError(EngineError):
    """The person photo cannot be used (no person, not frontal, cropped, ...)."""


class GarmentImageError(EngineError):
    """The garment photo cannot be used (busy background, cut off, not a garment, ...)."""


class UnsupportedCategoryError(EngineError):
    """The requested garment category is not one the engine can dress."""


class ModelsMissingError(EngineError):
    """The model files are missing or corrupt; the installation needs fixing."""

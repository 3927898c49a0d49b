"""The `local` provider: the built-in offline engine (tryon.engine), CPU only."""
import cv2
import numpy as np

from .. import errors
from .base import GenerationResult, Provider, ProviderError


class LocalProvider(Provider):
    name = "local"

    def __init__(self, models_dir=None):
        # Imported here so that the web process does not pay for OpenCV until a job runs.
        from ..engine import DEFAULT_MODELS_DIR, TryOnEngine

        self._engine = TryOnEngine(models_dir=models_dir or DEFAULT_MODELS_DIR)

    @classmethod
    def from_config(cls, config):
        if config.get("WORKERS", 1) >= 2:
            # Measured (bench/bench_engine.py): with two jobs at once, one OpenCV thread per
            # job is as fast as two and avoids oversubscribing the cores. Process-wide.
            cv2.setNumThreads(1)
        return cls(models_dir=config.get("MODELS_DIR"))

    def configuration_problems(self):
        return self._engine.check()

    def warm_up(self):
        if not self.configuration_problems():
            self._engine.load()

    def generate(self, request, context):
        from ..engine import (
            GarmentImageError,
            ModelsMissingError,
            PersonImageError,
            UnsupportedCategoryError,
        )

        person = _decode(request.person.data, errors.INVALID_PERSON_IMAGE, "person image")
        garment = _decode(request.garment.data, errors.INVALID_GARMENT_IMAGE, "garment image")
        category = request.options.get("category", "auto")
        try:
            result = self._engine.try_on(person, garment, category=category)
        except PersonImageError as exc:
            raise ProviderError(errors.INVALID_PERSON_IMAGE, exc.reason,
                                step="analyse_person") from exc
        except GarmentImageError as exc:
            raise ProviderError(errors.INVALID_GARMENT_IMAGE, exc.reason,
                                step="analyse_garment") from exc
        except UnsupportedCategoryError as exc:
            raise ProviderError(errors.VALIDATION_FAILED, exc.reason,
                                step="validate_options") from exc
        except ModelsMissingError as exc:
            raise ProviderError(errors.CONSUMER_CONFIG_ERROR, exc.reason,
                                step="load_models") from exc
        ok, encoded = cv2.imencode(".png", result.image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise ProviderError(errors.GENERATION_FAILED, "Could not encode the result image.")
        return GenerationResult(image=encoded.tobytes(), metadata={
            "engineTimingsMs": {k: round(v, 1) for k, v in result.timings_ms.items()},
            "engine": result.info,
        })


def _decode(data, error_code, label):
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ProviderError(error_code, f"The stored {label} could not be decoded.",
                            step="load_inputs")
    return image

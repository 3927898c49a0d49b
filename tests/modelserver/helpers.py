"""Plain helpers of the model tests: test pictures (random blocks with structure, so that
different inputs give different outputs), their pixels as signed numbers for comparisons, and
a counter of a pipeline's scheduler steps."""
import numpy as np
from PIL import Image


def photo(width, height, seed=0):
    """A picture of 4x4 random blocks scaled to width x height."""
    blocks = np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((width, height), Image.Resampling.NEAREST)


def pixels(picture):
    return np.asarray(picture, dtype=np.int16)


def count_steps(model, monkeypatch):
    """A list that grows by one at each scheduler step of the model's pipeline."""
    steps = []
    scheduler = model.pipeline.scheduler
    real_step = scheduler.step

    def counting_step(*args, **kwargs):
        steps.append(1)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(scheduler, "step", counting_step)
    return steps

"""Test pictures for the model tests: random blocks with structure, so that different inputs
give different outputs, and their pixels as signed numbers for comparisons."""
import numpy as np
from PIL import Image


def photo(width, height, seed=0):
    """A picture of 4x4 random blocks scaled to width x height."""
    blocks = np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((width, height), Image.Resampling.NEAREST)


def pixels(picture):
    return np.asarray(picture, dtype=np.int16)

"""`data.preprocess`: what is done to every image a member sees, in training and in prediction alike."""
from __future__ import annotations

from collections.abc import Callable

import albumentations as A
import numpy as np

from configs.schema import PreprocessStep

Preprocess = Callable[[np.ndarray], np.ndarray]


def no_preprocess(image: np.ndarray) -> np.ndarray:
    """The identity: an image read as it is."""
    return image


def build_preprocess(steps: list[PreprocessStep]) -> Preprocess:
    """HxWx3 uint8 -> HxWx3 uint8 through every step in order (albumentations' CLAHE on the LAB lightness)."""
    if not steps:
        return no_preprocess
    pipeline = A.Compose([A.CLAHE(clip_limit=(s.clip_limit, s.clip_limit), tile_grid_size=(s.tile_grid, s.tile_grid),
                                  p=1.0) for s in steps])
    return lambda image: pipeline(image=image)["image"]

"""The hand-bone task's names and polygons, for its synthetic data and benches (the task itself is
`configs/tasks/handbone.yaml`, read by the `polygon-json` format)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from configs.task import load_task_spec
from data.formats.polygon_json import mask_polygons, parse_polygons, polygon, rasterize

CLASSES = tuple(load_task_spec("handbone").classes)
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}

__all__ = ["CLASSES", "CLASS_INDEX", "mask_polygons", "parse_annotations", "polygon", "rasterize_polygons"]


def rasterize_polygons(annotations: list[tuple[str, np.ndarray]], shape: tuple[int, int]) -> np.ndarray:
    """Fill each (label, Nx2 xy points) polygon into its class channel: CxHxW bool."""
    return rasterize([(CLASS_INDEX[label], points) for label, points in annotations], len(CLASSES), shape)


def parse_annotations(path: Path, shape: tuple[int, int]) -> list[tuple[str, np.ndarray]]:
    """Read and check a hand-bone label JSON: known labels, >= 3 points, all inside the image."""
    return [(CLASSES[index], points) for index, points in parse_polygons(path, shape, CLASSES)]

"""A fold as an ultralytics segment dataset: one polygon per connected component per class."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

import atomic
from configs.files import Fold
from data.images import write_image_atomic
from data.task import Task
from errors import UserError


def mask_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """One polygon per connected component (outer boundary), as (n, 2) x, y pixel coordinates."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c[:, 0, :] for c in contours if len(c) >= 3]


def label_lines(masks: np.ndarray) -> list[str]:
    """Ultralytics segment labels: `class x1 y1 x2 y2 ...`, coordinates normalised to [0, 1]."""
    height, width = masks.shape[1:]
    lines = []
    for index, mask in enumerate(masks):
        for polygon in mask_polygons(mask):
            points = (polygon + 0.5) / np.array([width, height])
            lines.append(f"{index} " + " ".join(f"{v:.6f}" for v in points.ravel()))
    return lines


def export_dataset(task: Task, split: Fold, folder: Path) -> Path:
    """Write images/{train,val}, labels/{train,val} and data.yaml under `folder` once; return data.yaml."""
    data_yaml, done = folder / "data.yaml", folder / ".complete"
    if done.is_file():
        return data_yaml
    for part, cases in (("train", split.train), ("val", split.val)):
        stems = [Path(case).stem for case in cases]
        if len(set(stems)) != len(stems):
            raise UserError(f"yolov8-seg needs unique image names per fold; {part} repeats one")
        for case, stem in zip(cases, stems):
            write_image_atomic(folder / "images" / part / f"{stem}.png", task.read_image(case))
            atomic.write_text(folder / "labels" / part / f"{stem}.txt", "\n".join(label_lines(task.read_mask(case))))
    atomic.write_text(data_yaml, yaml.safe_dump({"path": str(folder.resolve()), "train": "images/train",
                                                 "val": "images/val", "names": dict(enumerate(task.classes))}))
    atomic.write_text(done, "")
    return data_yaml

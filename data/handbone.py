"""The 29-class hand-bone X-ray task: PNG images with polygon JSON labels."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

import atomic
from data.images import image_size, list_images
from data.task import Task, require_nonempty
from errors import UserError
from jsonfile import read_json
from names import TaskName

CLASSES = (
    *(f"finger-{i}" for i in range(1, 20)),
    "Trapezium", "Trapezoid", "Capitate", "Hamate", "Scaphoid",
    "Lunate", "Triquetrum", "Pisiform", "Radius", "Ulna",
)
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}


def rasterize_polygons(annotations: list[tuple[str, np.ndarray]], shape: tuple[int, int]) -> np.ndarray:
    """Fill each (label, Nx2 xy points) polygon into its class channel: CxHxW bool."""
    masks = np.zeros((len(CLASSES), *shape), dtype=np.uint8)
    for label, points in annotations:
        cv2.fillPoly(masks[CLASS_INDEX[label]], [np.round(points).astype(np.int32)], 1)
    return masks.astype(bool)


def polygon(points) -> np.ndarray:
    """A polygon's [x, y] points as float64; TypeError unless every coordinate is a JSON number."""
    array = np.asarray(points)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"polygon points must be numbers, not {array.dtype.kind!r} values")
    if array.ndim != 2 or array.shape[1] != 2:
        raise TypeError(f"polygon points must be [x, y] pairs, not an array of shape {array.shape}")
    return array.astype(np.float64)


def mask_polygons(mask: np.ndarray) -> list[list[list[int]]]:
    """The outer contour of every 8-connected component of an HxW mask as [x, y] points (at least 3, a
    lone pixel repeated), which `rasterize_polygons` fills back into the component with its holes filled."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polygons = []
    for contour in contours:
        points = contour[:, 0].tolist()
        polygons.append(points + points[-1:] * max(0, 3 - len(points)))
    return polygons


def parse_annotations(path: Path, shape: tuple[int, int]) -> list[tuple[str, np.ndarray]]:
    """Read and check a label JSON: known labels, >= 3 points, all inside the image."""
    try:
        annotations = read_json(path)["annotations"]
        items = [(a["label"], polygon(a["points"])) for a in annotations]
        if not all(isinstance(label, str) for label, _ in items):
            raise TypeError("a label is not a string")
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise UserError(f"bad label JSON {path}: {type(err).__name__}: {err}") from None
    height, width = shape
    for label, points in items:
        if label not in CLASS_INDEX:
            raise UserError(f"unknown label {label!r} in {path}")
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            raise UserError(f"polygon {label!r} in {path} needs at least 3 [x, y] points")
        x, y = points[:, 0], points[:, 1]
        if (x < 0).any() or (y < 0).any() or (x > width).any() or (y > height).any():
            raise UserError(f"polygon {label!r} in {path} has points outside the {width}x{height} image")
    return items


class HandBoneTask(Task):
    """ROOT/train/DCM/<patient>/<image>.png with ROOT/train/outputs_json/<patient>/<image>.json."""

    name = TaskName.HANDBONE
    classes = CLASSES
    every_image_holds_every_class = True

    def labelled_cases(self) -> list[str]:
        image_dir, label_dir = self.root / "train" / "DCM", self.root / "train" / "outputs_json"
        images = list_images(image_dir, (".png",))
        labels = list_images(label_dir, (".json",)) if label_dir.is_dir() else []
        image_keys = {p.relative_to(image_dir).with_suffix("") for p in images}
        for label in labels:
            if label.relative_to(label_dir).with_suffix("") not in image_keys:
                raise UserError(f"label without image: {label}")
        for image in images:
            if not self.label_path(self._case(image)).is_file():
                raise UserError(f"image without label JSON: {image}")
        cases = require_nonempty([self._case(p) for p in images], image_dir)
        self.cases_by_name(cases)
        return cases

    def test_folder(self) -> Path:
        return self.root / "test" / "DCM" if (self.root / "test" / "DCM").is_dir() else self.root

    def test_images(self) -> list[str]:
        folder = self.test_folder()
        cases = require_nonempty([self._case(p) for p in list_images(folder, (".png",))], folder)
        self.cases_by_name(cases)
        return cases

    def label_path(self, case: str) -> Path:
        relative = Path(case).relative_to("train/DCM")
        return (self.root / "train" / "outputs_json" / relative).with_suffix(".json")

    def read_mask(self, case: str) -> np.ndarray:
        shape = image_size(self.root / case)
        return rasterize_polygons(parse_annotations(self.label_path(case), shape), shape)

    def check_case(self, case: str) -> None:
        parse_annotations(self.label_path(case), image_size(self.root / case))

    def group(self, case: str) -> str:
        return Path(case).parent.name

    def write_label(self, case: str, masks: np.ndarray, root: Path) -> str:
        """The case's image and `masks` as a labelled case under `root` (train/DCM + train/outputs_json,
        the patient folders kept); returns its case there."""
        relative = Path(case).relative_to("test/DCM") if case.startswith("test/DCM/") else Path(case)
        target = Path("train/DCM") / relative
        atomic.write_bytes(root / target, self.path(case).read_bytes())
        annotations = [{"type": "poly_seg", "label": label, "points": points}
                       for label, mask in zip(CLASSES, masks) for points in mask_polygons(mask)]
        atomic.write_text((root / "train/outputs_json" / relative).with_suffix(".json"),
                          json.dumps({"annotations": annotations}))
        return target.as_posix()

    def _case(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

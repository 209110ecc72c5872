"""`polygon-json`: one JSON per image listing labelled polygons; the key names are the task's `labels.keys`."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

import atomic
from data.formats.base import Labels, LabelWriter, image_folder_of
from data.formats.folders import FolderFormat
from errors import UserError
from jsonfile import read_json


def polygon(points) -> np.ndarray:
    """A polygon's [x, y] points as float64; TypeError unless every coordinate is a JSON number."""
    array = np.asarray(points)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"polygon points must be numbers, not {array.dtype.kind!r} values")
    if array.ndim != 2 or array.shape[1] != 2:
        raise TypeError(f"polygon points must be [x, y] pairs, not an array of shape {array.shape}")
    return array.astype(np.float64)


def rasterize(annotations: list[tuple[int, np.ndarray]], classes: int, shape: tuple[int, int]) -> np.ndarray:
    """Fill each (class index, Nx2 xy points) polygon into its class channel: CxHxW bool."""
    masks = np.zeros((classes, *shape), dtype=np.uint8)
    for index, points in annotations:
        cv2.fillPoly(masks[index], [np.round(points).astype(np.int32)], 1)
    return masks.astype(bool)


def mask_polygons(mask: np.ndarray) -> list[list[list[int]]]:
    """The outer contour of every 8-connected component of an HxW mask as [x, y] points (at least 3, a
    lone pixel repeated), which `rasterize` fills back into the component with its holes filled."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polygons = []
    for contour in contours:
        points = contour[:, 0].tolist()
        polygons.append(points + points[-1:] * max(0, 3 - len(points)))
    return polygons


def parse_polygons(path: Path, shape: tuple[int, int], classes: tuple[str, ...],
                   keys: tuple[str, str, str] = ("annotations", "label", "points")) -> list[tuple[int, np.ndarray]]:
    """Read and check a polygon JSON: known labels, >= 3 points, all inside the image; (class index, points)."""
    listing, label_key, points_key = keys
    try:
        annotations = read_json(path)[listing]
        items = [(a[label_key], polygon(a[points_key])) for a in annotations]
        if not all(isinstance(label, str) for label, _ in items):
            raise TypeError("a label is not a string")
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise UserError(f"bad label JSON {path}: {type(err).__name__}: {err}") from None
    index = {name: i for i, name in enumerate(classes)}
    height, width = shape
    for label, points in items:
        if label not in index:
            raise UserError(f"unknown label {label!r} in {path}")
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            raise UserError(f"polygon {label!r} in {path} needs at least 3 [x, y] points")
        x, y = points[:, 0], points[:, 1]
        if (x < 0).any() or (y < 0).any() or (x > width).any() or (y > height).any():
            raise UserError(f"polygon {label!r} in {path} has points outside the {width}x{height} image")
    return [(index[label], points) for label, points in items]


class PolygonJson(FolderFormat):
    """Polygons filled into their class channel; classes may overlap."""

    suffixes = (".json",)
    what = "label JSON"

    def keys(self) -> tuple[str, str, str]:
        """(annotations, label, points): the task's key names."""
        keys = self.spec.labels.keys
        return keys.annotations, keys.label, keys.points

    def read(self, case: str, shape: tuple[int, int]) -> Labels:
        """The case's polygons filled into their class channels."""
        items = parse_polygons(self.label_path(case), shape, self.classes, self.keys())
        return Labels(rasterize(items, len(self.classes), shape))

    def check(self, case: str, shape: tuple[int, int]) -> None:
        """Parse and check the case's polygons without filling them."""
        parse_polygons(self.label_path(case), shape, self.classes, self.keys())

    def writer(self, root: Path) -> LabelWriter:
        """A writer of polygon JSON files under `root`."""
        return PolygonWriter(self, root)


class PolygonWriter(LabelWriter):
    """Each class's components as outer contours (holes filled)."""

    def __init__(self, fmt: PolygonJson, root: Path):
        """Write polygon JSON files of `fmt` under `root`."""
        self.fmt, self.root = fmt, root

    def add(self, case: str, masks: np.ndarray) -> None:
        """Write each class's components of `masks` as polygons in the case's JSON."""
        listing, label_key, points_key = self.fmt.keys()
        annotations = [{label_key: name, points_key: points}
                       for name, mask in zip(self.fmt.classes, masks) for points in mask_polygons(mask)]
        index, relative = image_folder_of(self.fmt.spec, case)
        target = self.root / self.fmt.spec.labels.folder[index] / relative.parent / f"{relative.stem}.json"
        atomic.write_text(target, json.dumps({listing: annotations, "filename": relative.name}))

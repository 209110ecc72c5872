"""`coco`: one COCO instances file: polygons and RLE (plain or compressed counts), categories mapped to the task's
classes by name, images by file name or stem."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

import atomic
from data.formats.base import Labels, LabelWriter, image_folder_of
from data.formats.one_file import OneFileFormat
from errors import UserError
from jsonfile import read_json


def compressed_counts(text: str) -> list[int]:
    """The run lengths of COCO's compressed RLE string (5 bits per character from 48, 0x20 marks more to come,
    0x10 a negative number; from the third on, each is stored as the difference to the one two before)."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise ValueError("the compressed counts end inside a number")
            char = ord(text[position]) - 48
            value |= (char & 0x1F) << (5 * shift)
            more = bool(char & 0x20)
            position, shift = position + 1, shift + 1
            if not more and char & 0x10:
                value |= -1 << (5 * shift)
        counts.append(value + counts[-2] if len(counts) > 2 else value)
    return counts


def counts_mask(counts: list[int], shape: tuple[int, int]) -> np.ndarray:
    """An HxW mask from COCO run lengths: column-major, alternating background and foreground from background."""
    runs = np.asarray(counts, np.int64)
    if (runs < 0).any() or runs.sum() != shape[0] * shape[1]:
        raise ValueError(f"the run lengths cover {int(runs.sum())} pixels, not the image's {shape[0] * shape[1]}")
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(shape[::-1]).T


def mask_counts(mask: np.ndarray) -> list[int]:
    """COCO run lengths of an HxW mask (column-major, from a background run)."""
    flat = np.asarray(mask, bool).T.reshape(-1)
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat.size and flat[0] else runs


class Coco(OneFileFormat):
    """Annotations of each image, rasterised into their category's class channel (classes may overlap)."""

    def parse(self) -> dict[str, object]:
        """Read and check the whole file: image key -> ((H, W) it lists, [(class index, segmentation, number)])."""
        try:
            raw = read_json(self.path)
            categories = {c["id"]: c["name"] for c in raw["categories"]}
            images = {i["id"]: (self.key(i["file_name"]), (int(i["height"]), int(i["width"]))) for i in raw["images"]}
            annotations = [(a["image_id"], a["category_id"], a["segmentation"]) for a in raw["annotations"]]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"bad COCO file {self.path}: {type(err).__name__}: {err}") from None
        index = {name: i for i, name in enumerate(self.classes)}
        stranger = next((name for name in categories.values() if name not in index), None)
        if stranger is not None:
            raise UserError(f"{self.path}: category {stranger!r} is not a class of the task")
        table = {key: (shape, []) for key, shape in images.values()}
        for number, (image_id, category_id, segmentation) in enumerate(annotations):
            if image_id not in images or category_id not in categories:
                raise UserError(f"{self.path}: annotation {number} names an image or category the file does not list")
            table[images[image_id][0]][1].append((index[categories[category_id]], segmentation, number))
        return table

    def read(self, case: str, shape: tuple[int, int]) -> Labels:
        """The case's masks: each annotation filled into its class channel at the listed size."""
        listed, items = self.entry(case)
        if tuple(listed) != tuple(shape):
            raise UserError(f"{self.path}: {case} is listed as {listed[1]}x{listed[0]}, the image is "
                            f"{shape[1]}x{shape[0]}")
        masks = np.zeros((len(self.classes), *shape), np.uint8)
        for channel, segmentation, number in items:
            try:
                masks[channel] |= self.segment(segmentation, shape)
            except (ValueError, TypeError, KeyError) as err:
                raise UserError(f"{self.path}: annotation {number} ({case}): {err}") from None
        return Labels(masks.astype(bool))

    @staticmethod
    def segment(segmentation: object, shape: tuple[int, int]) -> np.ndarray:
        """One annotation's HxW uint8 mask: polygons [[x0, y0, x1, y1, ...], ...] or RLE {size, counts}."""
        if isinstance(segmentation, dict):
            if list(segmentation["size"]) != list(shape):
                raise ValueError(f"its RLE is {segmentation['size']}, not the image's {list(shape)}")
            counts = segmentation["counts"]
            runs = compressed_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
            return counts_mask(runs, shape).astype(np.uint8)
        mask = np.zeros(shape, np.uint8)
        for flat in segmentation:
            points = np.asarray(flat, np.float64).reshape(-1, 2)
            if len(points) < 3:
                raise ValueError("a polygon needs at least 3 points")
            cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
        return mask

    def writer(self, root: Path) -> LabelWriter:
        """A writer of one COCO file of plain-RLE annotations under `root`."""
        return CocoWriter(self, root)


class CocoWriter(LabelWriter):
    """Each image's classes as plain RLE annotations (exact, holes kept), written on `close`."""

    def __init__(self, fmt: Coco, root: Path):
        """Collect images and annotations for the COCO file of `fmt` under `root`."""
        self.fmt, self.root = fmt, root
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add(self, case: str, masks: np.ndarray) -> None:
        """Keep the image entry and one annotation per non-empty class of `masks`."""
        _, relative = image_folder_of(self.fmt.spec, case)
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": relative.name, "height": int(masks.shape[1]),
                            "width": int(masks.shape[2])})
        for channel, mask in enumerate(masks):
            if mask.any():
                ys, xs = np.nonzero(mask)
                self.annotations.append({
                    "id": len(self.annotations) + 1, "image_id": image_id, "category_id": channel + 1, "iscrowd": 1,
                    "area": int(mask.sum()), "bbox": [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1,
                                                      int(np.ptp(ys)) + 1],
                    "segmentation": {"size": list(mask.shape), "counts": mask_counts(mask)}})

    def close(self) -> None:
        """Write the COCO file with every image, annotation and category added."""
        categories = [{"id": i + 1, "name": name} for i, name in enumerate(self.fmt.classes)]
        atomic.write_text(self.root / self.fmt.spec.labels.file, json.dumps(
            {"images": self.images, "annotations": self.annotations, "categories": categories}))

"""`rle-csv`: one CSV of image, class and RLE (row- or column-major, starts from 0 or 1); a class without a row
is empty."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

import atomic
from csvfile import csv_rows
from data.formats.base import Labels, LabelWriter, image_folder_of
from data.formats.one_file import OneFileFormat
from errors import UserError
from rle import decode, encode


class RleCsv(OneFileFormat):
    """Rows `image, class, rle` under the header `labels.columns`; an image is labelled once it has a row."""

    def parse(self) -> dict[str, object]:
        """Read and check the whole CSV: image key -> class index -> (line, RLE)."""
        lines = csv_rows(self.path)
        _, header = next(lines, (1, []))
        missing = [c for c in self.spec.labels.columns if c not in header]
        if missing:
            raise UserError(f"{self.path}: no column {missing[0]!r} in its header (labels.columns)")
        image_at, class_at, rle_at = (header.index(c) for c in self.spec.labels.columns)
        index = {name: i for i, name in enumerate(self.classes)}
        table: dict[str, dict[int, tuple[int, str]]] = {}
        for line, fields in lines:
            if not fields:
                continue
            image, class_name, rle = (fields[i] if i < len(fields) else "" for i in (image_at, class_at, rle_at))
            if class_name not in index:
                raise UserError(f"{self.path} line {line}: class {class_name!r} is not a class of the task")
            classes = table.setdefault(self.key(image), {})
            if index[class_name] in classes:
                raise UserError(f"{self.path} line {line}: a second row for {image} / {class_name}")
            classes[index[class_name]] = (line, rle)
        return table

    def read(self, case: str, shape: tuple[int, int]) -> Labels:
        """The case's masks decoded at its image's size; a class without a row is empty."""
        masks = np.zeros((len(self.classes), *shape), bool)
        labels = self.spec.labels
        for channel, (line, rle) in self.entry(case).items():
            try:
                masks[channel] = decode(rle, shape, labels.order, labels.start)
            except UserError as err:
                raise UserError(f"{self.path} line {line} ({case}, {shape[1]}x{shape[0]}): {err}") from None
        return Labels(masks)

    def writer(self, root: Path) -> LabelWriter:
        """A writer of one RLE CSV under `root`."""
        return RleCsvWriter(self, root)


class RleCsvWriter(LabelWriter):
    """Collects every image's RLE strings (small), writes the CSV on `close`."""

    def __init__(self, fmt: RleCsv, root: Path):
        """Collect rows for the RLE CSV of `fmt` under `root`."""
        self.fmt, self.root, self.rows = fmt, root, []

    def add(self, case: str, masks: np.ndarray) -> None:
        """Keep one row per class of `masks`, encoded in the task's RLE order and start."""
        labels = self.fmt.spec.labels
        _, relative = image_folder_of(self.fmt.spec, case)
        name = self.fmt.key(relative.name)
        self.rows += [(name, c, encode(m, labels.order, labels.start)) for c, m in zip(self.fmt.classes, masks)]

    def close(self) -> None:
        """Write the CSV: the header `labels.columns`, then every row kept."""
        with atomic.atomic_path(self.root / self.fmt.spec.labels.file) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(self.fmt.spec.labels.columns)
            writer.writerows(self.rows)

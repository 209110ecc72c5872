"""The submission CSV: atomic writing, reading, and validation against the test images."""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atomic import atomic_path
from configs.task import SubmissionSpec
from csvfile import csv_rows
from errors import UserError
from rle import decode, encode, parse

COMPETITION = SubmissionSpec()  # image_name,class,rle; file names; row-major RLE from 1; empty masks as empty fields


@dataclass(frozen=True)
class Row:
    """One CSV row: image name, class, RLE, and its line number for messages."""
    line: int
    image_name: str
    class_name: str
    rle: str


class SubmissionWriter:
    """Appends one image's class masks at a time to an open CSV."""

    def __init__(self, handle, classes: tuple[str, ...], spec: SubmissionSpec = COMPETITION):
        """Write the header of `spec` to the open `handle`; rows follow in `classes` order."""
        self._writer = csv.writer(handle, lineterminator="\n")
        self._classes, self._spec = classes, spec
        self._writer.writerow(spec.columns)

    def write_image(self, image_name: str, masks: np.ndarray) -> None:
        """Write a CxHxW bool mask as C rows in class order."""
        self.write_rles(image_name, [encode_mask(m, self._spec) for m in masks])

    def write_rles(self, image_name: str, rles: list[str]) -> None:
        """One image's rows, an RLE per class in class order (empty masks left out where the task omits them)."""
        if len(rles) != len(self._classes):
            raise ValueError(f"{image_name}: {len(rles)} masks for {len(self._classes)} classes")
        self._writer.writerows((image_name, c, r) for c, r in zip(self._classes, rles)
                               if r or self._spec.empty == "field")


def encode_mask(mask: np.ndarray, spec: SubmissionSpec = COMPETITION) -> str:
    """An HxW bool mask as the submission's RLE string."""
    return encode(mask, spec.order, spec.start)


@contextmanager
def write_submission(path: Path | str, classes: tuple[str, ...],
                     spec: SubmissionSpec = COMPETITION) -> Iterator[SubmissionWriter]:
    """Open a submission CSV for writing; it appears at `path` only when complete."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        yield SubmissionWriter(handle, classes, spec)


def read_submission(path: Path | str, spec: SubmissionSpec = COMPETITION) -> list[Row]:
    """Read a submission CSV, checking the header and column count of every row."""
    lines = csv_rows(path)
    _, header = next(lines, (1, []))
    if header != spec.columns:
        raise UserError(f"{path}: header must be {','.join(spec.columns)}, got {','.join(header)[:80] or 'nothing'}")
    rows = []
    for line, fields in lines:
        if len(fields) != 3:
            raise UserError(f"{path} line {line}: expected 3 columns, got {len(fields)}")
        rows.append(Row(line, *fields))
    return rows


def group_rows(rows: Iterable[Row], classes: tuple[str, ...], image_names: Iterable[str],
               source: str, spec: SubmissionSpec = COMPETITION) -> dict[str, list[Row]]:
    """Check every image x class appears exactly once (at most once where the task omits empty masks: a missing
    row is then an empty mask); return each image's rows in class order."""
    expected = set(image_names)
    class_index = {c: i for i, c in enumerate(classes)}
    table: dict[str, list[Row | None]] = {name: [None] * len(classes) for name in expected}
    for row in rows:
        if row.image_name not in expected:
            raise UserError(f"{source} line {row.line}: image {row.image_name!r} is not in the test images")
        if row.class_name not in class_index:
            raise UserError(f"{source} line {row.line}: unknown class {row.class_name!r}")
        slot = table[row.image_name]
        index = class_index[row.class_name]
        if slot[index] is not None:
            raise UserError(f"{source} line {row.line}: duplicate row for {row.image_name} / {row.class_name}")
        slot[index] = row
    for name in sorted(table):
        for index, (class_name, row) in enumerate(zip(classes, table[name])):
            if row is None and spec.empty == "omit":
                table[name][index] = Row(0, name, class_name, "")
            elif row is None:
                raise UserError(f"{source}: missing row for image {name!r}, class {class_name!r}")
            elif spec.empty == "omit" and not row.rle.strip():
                raise UserError(f"{source} line {row.line}: an empty RLE for {name} / {class_name}: this task "
                                f"leaves empty masks out (submission.empty: omit)")
    return table  # type: ignore[return-value]


def decode_row(row: Row, shape: tuple[int, int], source: str, spec: SubmissionSpec = COMPETITION) -> np.ndarray:
    """Decode one row's RLE, naming the row if it is malformed."""
    with _naming_row(row, source):
        return decode(row.rle, shape, spec.order, spec.start)


def parse_row(row: Row, size: int, source: str, spec: SubmissionSpec = COMPETITION) -> tuple[np.ndarray, np.ndarray]:
    """Validated 0-indexed run starts and lengths of one row, naming the row if malformed."""
    with _naming_row(row, source):
        return parse(row.rle, size, spec.start)


@contextmanager
def _naming_row(row: Row, source: str) -> Iterator[None]:
    try:
        yield
    except UserError as err:
        raise UserError(f"{source} line {row.line} ({row.image_name} / {row.class_name}): {err}") from None

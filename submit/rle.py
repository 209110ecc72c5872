"""Run-length encoding in the competition convention (row-major, 1-indexed starts)."""
from __future__ import annotations

import re

import numpy as np

from errors import UserError

_INTEGER = re.compile(r"-?[0-9]+\Z")


def run_bounds(mask: np.ndarray) -> np.ndarray:
    """Return the 0-indexed [start, end) pairs of the row-major runs of True, flattened."""
    flat = np.ascontiguousarray(mask, dtype=bool).reshape(-1).view(np.uint8)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    if flat.size and flat[0]:
        changes = np.concatenate(([0], changes))
    if flat.size and flat[-1]:
        changes = np.concatenate((changes, [flat.size]))
    return changes


def encode(mask: np.ndarray) -> str:
    """Encode an HxW binary mask as 'start length ...' (starts 1-indexed); empty mask -> ''."""
    bounds = run_bounds(mask)
    bounds[1::2] -= bounds[::2]
    bounds[::2] += 1
    return " ".join(map(str, bounds.tolist()))


def decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Decode an RLE string into a bool mask of `shape`, rejecting malformed input."""
    size = int(np.prod(shape))
    starts, lengths = parse(rle, size)
    edges = np.bincount(starts, minlength=size + 1) - np.bincount(starts + lengths, minlength=size + 1)
    return np.cumsum(edges[:-1]).astype(bool).reshape(shape)


def parse(rle: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated 0-indexed starts and lengths of an RLE string for an image of `size` pixels."""
    tokens = rle.split()
    if len(tokens) % 2:
        raise UserError(f"bad RLE: odd number of tokens ({len(tokens)})")
    bad = next((t for t in tokens if not _INTEGER.match(t)), None)
    if bad is not None:
        raise UserError(f"bad RLE: not an integer: {bad!r}")
    numbers = np.array(tokens, dtype=np.int64)
    starts, lengths = numbers[0::2] - 1, numbers[1::2]
    _check_runs(starts, lengths, size)
    return starts, lengths


def _check_runs(starts: np.ndarray, lengths: np.ndarray, size: int) -> None:
    if starts.size == 0:
        return
    if (starts < 0).any():
        raise UserError(f"bad RLE: start below 1 (first: {int(starts[starts < 0][0]) + 1})")
    if (lengths <= 0).any():
        raise UserError(f"bad RLE: non-positive run length {int(lengths[lengths <= 0][0])}")
    ends = starts + lengths
    if (starts[1:] < ends[:-1]).any():
        i = int(np.flatnonzero(starts[1:] < ends[:-1])[0]) + 1
        raise UserError(f"bad RLE: run {i + 1} (start {int(starts[i]) + 1}) is unsorted or overlaps the previous run")
    if ends[-1] > size:
        raise UserError(f"bad RLE: run ends at pixel {int(ends[-1])}, past the image's {size} pixels")

"""Run-length encoding: pairs `start length` of a flattened binary mask, row-major (C order) or column-major, starts
from 1 (the competition convention) or 0."""
from __future__ import annotations

import re

import numpy as np

from errors import UserError
from names import RleOrder

_INTEGER = re.compile(r"-?[0-9]+\Z")


_DIGIT_TABLE = np.array([f"{i:04d}".encode() for i in range(10_000)]).view(np.uint32)  # 4 ASCII digits
_POWERS_OF_TEN = 10 ** np.arange(1, 19, dtype=np.int64)
_MAX_DIGITS = 18  # every 18-digit integer fits in int64
# _BYTE_RUNS[a, b]: a 64-bit word whose bytes a..b-1 are 1 (True) and the others 0, for 0 <= a <= b <= 8
_BYTE_RUNS = np.array([[sum(1 << (8 * k) for k in range(a, b)) for b in range(9)] for a in range(9)], np.uint64)


def run_bounds(mask: np.ndarray) -> np.ndarray:
    """0-indexed [start, end) of every row-major run of True, flattened: s0 e0 s1 e1 ...

    One vectorised comparison marks each pixel that differs from the one before it; the marks
    are searched as 64-bit words (8 pixels each) and only the few marked words byte by byte."""
    flat = np.ascontiguousarray(mask, dtype=bool).reshape(-1)
    size = flat.size
    changed = np.empty(-(-size // 8) * 8, dtype=bool)
    changed[size:] = False
    changed[:1] = flat[:1]
    np.not_equal(flat[1:], flat[:-1], out=changed[1:size])
    words = changed.view(np.uint64)
    hot = np.flatnonzero(words != 0)
    offsets = np.flatnonzero(words[hot].view(bool))
    bounds = (hot[offsets >> 3] << 3) + (offsets & 7)
    if size and flat[-1]:
        bounds = np.concatenate([bounds, [size]])
    return bounds


def format_ints(numbers: np.ndarray) -> str:
    """Space-separated decimal non-negative integers, built as one byte array: four digits at a
    time from a lookup table, leading zeros dropped, no per-number str()."""
    if numbers.size == 0:
        return ""
    values = numbers.astype(np.int64)
    chunks = -(-len(str(int(values.max()))) // 4)
    cells = np.empty((values.size, chunks + 1), np.uint32)  # 4 bytes per cell, last cell: separator
    remaining = values
    for chunk in range(chunks - 1, -1, -1):
        remaining, low = np.divmod(remaining, 10_000)
        cells[:, chunk] = _DIGIT_TABLE[low]
    cells[:, chunks] = ord(" ")
    chars = cells.view(np.uint8)
    widths = np.searchsorted(_POWERS_OF_TEN, values, side="right") + 1
    keep = np.arange(chunks * 4 + 4) >= (chunks * 4 - widths)[:, None]
    keep[:, chunks * 4 + 1:] = False
    return chars[keep].tobytes()[:-1].decode("ascii")


def encode(mask: np.ndarray, order: RleOrder = RleOrder.ROW_MAJOR, start: int = 1) -> str:
    """Encode an HxW binary mask as 'start length ...' (the first pixel numbered `start`); empty mask -> ''."""
    bounds = run_bounds(mask.T if order == RleOrder.COLUMN_MAJOR else mask)
    bounds[1::2] -= bounds[::2]
    bounds[::2] += start
    return format_ints(bounds)


def decode(rle: str, shape: tuple[int, int], order: RleOrder = RleOrder.ROW_MAJOR, start: int = 1) -> np.ndarray:
    """Decode an RLE string into a bool mask of `shape` (HxW), rejecting malformed input."""
    size = int(np.prod(shape))
    starts, lengths = parse(rle, size, start)
    flat = fill_runs(starts, starts + lengths, size)
    return flat.reshape(shape[::-1]).T if order == RleOrder.COLUMN_MAJOR else flat.reshape(shape)


def fill_runs(starts: np.ndarray, ends: np.ndarray, size: int) -> np.ndarray:
    """A flat bool mask of `size` pixels, True on every sorted, disjoint [start, end) run.

    The mask is built as 64-bit words of 8 pixels: the words a run covers whole by one np.repeat (gap,
    ones, gap, ...), an eighth of per-pixel work; the at most two words it covers in part (its first and
    its last) by a table of byte patterns, OR-ed together where runs share a word."""
    words = -(-size // 8)
    first_word, end_word = -(-starts // 8), ends // 8  # each run's whole words: [first_word, end_word)
    whole = first_word < end_word
    edges = np.empty(2 * np.count_nonzero(whole) + 2, np.int64)
    edges[0], edges[-1] = 0, words
    edges[1:-1:2], edges[2:-1:2] = first_word[whole], end_word[whole]
    values = np.zeros(edges.size - 1, np.uint64)
    values[1::2] = _BYTE_RUNS[0, 8]
    mask = np.repeat(values, np.diff(edges))
    head, tail = starts >> 3, (ends - 1) >> 3
    head_end = np.minimum(ends - (head << 3), 8)
    partial = np.stack([((starts & 7) != 0) | (head_end < 8), (tail != head) & ((ends & 7) != 0)], 1)
    index = np.stack([head, tail], 1)[partial]  # sorted: head 0 <= tail 0 <= head 1 <= ...
    patterns = np.stack([_BYTE_RUNS[starts & 7, head_end], _BYTE_RUNS[0, ends & 7]], 1)[partial]
    if index.size:
        groups = np.flatnonzero(np.diff(index, prepend=-1))
        mask[index[groups]] |= np.bitwise_or.reduceat(patterns, groups)
    return mask.view(bool)[:size]


def parse(rle: str, size: int, start: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Validated 0-indexed starts and lengths of an RLE string (its first pixel numbered `start`) for an image of
    `size` pixels; an empty or all-blank string is an empty mask."""
    if not rle.strip():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    numbers = _plain_integers(rle)
    if numbers is None:
        numbers = _checked_integers(rle)
    if numbers.size % 2:
        raise UserError(f"bad RLE: odd number of tokens ({numbers.size})")
    starts, lengths = numbers[0::2] - start, numbers[1::2]
    _check_runs(starts, lengths, size, start)
    return starts, lengths


def _plain_integers(rle: str) -> np.ndarray | None:
    """The integers of a string of ASCII digits and spaces, parsed in C by NumPy; None when the string
    holds anything else (or a number too long for int64), for `_checked_integers` to name."""
    chars = np.frombuffer(rle.encode("ascii", "replace"), np.uint8)
    if not ((chars == 32) | ((chars >= 48) & (chars <= 57))).all():
        return None
    spaces = np.flatnonzero(chars == 32)
    if np.diff(spaces, prepend=-1, append=chars.size).max(initial=0) - 1 > _MAX_DIGITS:
        return None
    return np.fromstring(rle, dtype=np.int64, sep=" ")


def _checked_integers(rle: str) -> np.ndarray:
    """Token by token, for strings the fast path refused: names the first bad token."""
    tokens = rle.split()
    if len(tokens) % 2:
        raise UserError(f"bad RLE: odd number of tokens ({len(tokens)})")
    bad = next((t for t in tokens if not _INTEGER.match(t)), None)
    if bad is not None:
        raise UserError(f"bad RLE: not an integer: {bad[:20]!r}")
    huge = next((t for t in tokens if len(t.lstrip("-")) > _MAX_DIGITS), None)
    if huge is not None:
        raise UserError(f"bad RLE: integer too large: {huge[:20]}...")
    return np.array(tokens, dtype=np.int64)


def _check_runs(starts: np.ndarray, lengths: np.ndarray, size: int, start: int) -> None:
    if starts.size == 0:
        return
    if (starts < 0).any():
        raise UserError(f"bad RLE: start below {start} (first: {int(starts[starts < 0][0]) + start})")
    if (lengths <= 0).any():
        raise UserError(f"bad RLE: non-positive run length {int(lengths[lengths <= 0][0])}")
    ends = starts + lengths
    if (starts[1:] < ends[:-1]).any():
        i = int(np.flatnonzero(starts[1:] < ends[:-1])[0]) + 1
        raise UserError(f"bad RLE: run {i + 1} (start {int(starts[i]) + start}) is unsorted or overlaps the previous "
                        f"run")
    if ends[-1] > size:
        raise UserError(f"bad RLE: run ends at pixel {int(ends[-1])}, past the image's {size} pixels")

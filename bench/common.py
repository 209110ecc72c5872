"""Shared helpers for the benchmarks: timing, peak memory, baseline encoder, test masks."""
from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def median_seconds(fn, repeats: int = 3) -> float:
    """Median wall time of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline_encode(mask: np.ndarray) -> str:
    """The public competition baseline's encoder: pad, flatten, compare neighbours, join."""
    pixels = mask.flatten()
    pixels = np.concatenate([[0], pixels, [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    return " ".join(str(x) for x in runs)


def smooth_field(rng: np.random.Generator, channels: int, size: int, cells: int) -> np.ndarray:
    """(channels, size, size) float32 smooth random field in about [-3, 3]."""
    coarse = rng.normal(0, 1.5, (cells, cells, channels)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return field.reshape(size, size, channels).transpose(2, 0, 1).copy()


def blob_masks(count: int, size: int = 2048, cells: int = 16, seed: int = 0) -> list[np.ndarray]:
    """Blobby binary masks; with cells=16 at 2048 px they have about 8,000 runs each (as DESIGN.md's)."""
    rng = np.random.default_rng(seed)
    return [smooth_field(rng, 1, size, cells)[0] > 0.3 for _ in range(count)]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.count_nonzero(a & b)
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return 1.0 if total == 0 else 2 * inter / total

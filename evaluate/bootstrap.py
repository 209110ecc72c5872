"""The paired bootstrap of two scores per image: is B really better than A?"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIE = 1e-9  # per-image scores closer than this are a tie
LEVEL = 0.95  # the percentile interval's coverage


@dataclass(frozen=True)
class Paired:
    """B against A over the same images; `diff` is mean_b - mean_a and its percentile interval."""

    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_b_better: float  # share of resamples whose mean of B is above that of A
    wins_a: int
    wins_b: int
    ties: int


def paired_bootstrap(a: np.ndarray, b: np.ndarray, groups: np.ndarray | None = None, resamples: int = 10000,
                     seed: int = 0) -> Paired:
    """Resample groups of images with replacement (`groups` None: every image its own group; else the task's
    groups, patients say, so both hands of one move together) and take the mean over the images drawn,
    `resamples` times."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError("paired scores need two equal-length, non-empty 1-D arrays")
    _, group_of = np.unique(np.arange(a.size) if groups is None else np.asarray(groups), return_inverse=True)
    count = np.bincount(group_of).astype(np.float64)
    delta = b - a
    delta_sum = np.bincount(group_of, weights=delta)
    draws = np.random.default_rng(seed).integers(0, count.size, size=(resamples, count.size))
    images = count.size if np.all(count == 1) else count[draws].sum(axis=1)  # images drawn per resample
    diffs = delta_sum[draws].sum(axis=1) / images
    low, high = np.quantile(diffs, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Paired(n=int(a.size), mean_a=float(a.mean()), mean_b=float(b.mean()), diff=float(delta.mean()),
                  ci_low=float(low), ci_high=float(high), p_b_better=float(np.mean(diffs > 0)),
                  wins_a=int(np.sum(delta < -TIE)), wins_b=int(np.sum(delta > TIE)),
                  ties=int(np.sum(np.abs(delta) <= TIE)))

"""Soft voting: members sharing a grid are averaged there, then resampled once to full size."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from data.resample import resize_plane


GridVote = tuple[np.ndarray, float]  # (weighted mean CxhxW probabilities on one grid, summed weight)


def grid_means(predictions: list[GridVote]) -> list[GridVote]:
    """Merge (probabilities, weight) pairs that share a grid into their weighted mean."""
    sums: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
    for probs, weight in predictions:
        key = probs.shape[1:]
        total, mass = sums.get(key, (0.0, 0.0))
        sums[key] = (total + probs.astype(np.float32) * weight, mass + weight)
    return [(total / mass, mass) for total, mass in sums.values()]


def soft_vote(grids: list[GridVote], shape: tuple[int, int]) -> np.ndarray:
    """Weighted mean CxHxW probabilities at the image's size."""
    return np.stack([class_probabilities(grids, shape, c) for c in range(len(grids[0][0]))])


def class_probabilities(grids: list[GridVote], shape: tuple[int, int], channel: int) -> np.ndarray:
    """One class's HxW soft vote, resampling only that channel (bounded memory)."""
    planes = [(resize_plane(p[channel], shape), w) for p, w in grids]
    if len(planes) == 1:
        return planes[0][0]
    mass = sum(w for _, w in planes)
    out = np.zeros(shape, np.float32)
    for plane, weight in planes:
        out += plane * np.float32(weight / mass)
    return out


def vote_masks(grids: list[GridVote], shape: tuple[int, int], thresholds: np.ndarray) -> Iterator[np.ndarray]:
    """HxW bool masks, class by class: soft vote > the class's threshold."""
    for channel, threshold in enumerate(thresholds):
        yield class_probabilities(grids, shape, channel) > threshold

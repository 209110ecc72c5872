"""Soft voting: members sharing a grid are averaged there, then resampled once to full size."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from data.resample import resize_plane

GridVote = tuple[np.ndarray, np.ndarray]  # (weighted mean CxhxW probabilities on one grid, summed C weights)
Weight = float | np.ndarray  # one weight for every class, or one per class


class GridVotes:
    """Running weighted sums of member probabilities, one per grid: members sharing a grid are
    averaged there, and only one array per grid stays alive however many members vote."""

    def __init__(self):
        """No votes yet."""
        self._sums: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def add(self, probs: np.ndarray, weight: Weight) -> None:
        """Add one member's Cxhxw probabilities with its weight (a number, or one per class)."""
        key = probs.shape[1:]
        weights = np.broadcast_to(np.asarray(weight, np.float32), probs.shape[:1])
        total, mass = self._sums.get(key, (0.0, 0.0))
        self._sums[key] = (total + probs.astype(np.float32) * weights[:, None, None], mass + weights)

    def means(self) -> list[GridVote]:
        """Per grid, the weighted mean of each class (0 where the class has no weight on that grid)."""
        return [(total / np.where(mass > 0, mass, 1)[:, None, None], mass) for total, mass in self._sums.values()]


def grid_means(predictions: list[tuple[np.ndarray, Weight]]) -> list[GridVote]:
    """Merge (probabilities, weight) pairs that share a grid into their weighted mean."""
    votes = GridVotes()
    for probs, weight in predictions:
        votes.add(probs, weight)
    return votes.means()


def class_probabilities(grids: list[GridVote], shape: tuple[int, int], channel: int) -> np.ndarray:
    """One class's HxW soft vote, resampling only that channel (bounded memory)."""
    planes = [(resize_plane(p[channel], shape), w[channel]) for p, w in grids if w[channel] > 0]
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

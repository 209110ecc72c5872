"""Per-class thresholds: read from the config, and the threshold arithmetic that tuning them needs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from errors import UserError
from evaluate.counts import COMPETITION_EPS
from jsonfile import number, read_json

CANDIDATES = np.round(np.arange(0.05, 0.96, 0.05), 2)
DEFAULT = 0.5


def resolve_thresholds(setting: float | Path, classes: tuple[str, ...]) -> np.ndarray:
    """A float for every class, or a thresholds.json file naming each class."""
    if isinstance(setting, (int, float)):
        return np.full(len(classes), float(setting), np.float32)
    try:
        table = read_json(setting)["thresholds"]
        values = np.array([number(table[c]) for c in classes], np.float32)
    except OSError:
        raise UserError(f"cannot read thresholds file: {setting}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"bad thresholds file {setting}: missing or bad entry {err}") from None
    outside = [c for c, v in zip(classes, values) if not 0 <= v <= 1]
    if outside:
        raise UserError(f"bad thresholds file {setting}: the threshold of {outside[0]!r} is not in [0, 1]")
    return values


def image_threshold_dice(probs: np.ndarray, truth: np.ndarray, image: np.ndarray | None, images: int,
                         candidates: np.ndarray = CANDIDATES) -> np.ndarray:
    """(images, T) competition Dice of `probs > t` per image for every candidate threshold t.

    `probs`, `truth` and `image` (each pixel's image index; None for one image) are flat arrays of the
    same length."""
    slots = len(candidates) + 1  # slot b holds values above exactly b candidates
    index = np.searchsorted(candidates, probs, side="left")
    if image is not None:
        index = index + image.astype(np.int64) * slots
    positives = np.bincount(index[truth], minlength=images * slots).reshape(images, slots)
    negatives = np.bincount(index[~truth], minlength=images * slots).reshape(images, slots)
    tp = positives[:, ::-1].cumsum(1)[:, ::-1][:, 1:]  # above candidate j: slots j+1 and beyond
    fp = negatives[:, ::-1].cumsum(1)[:, ::-1][:, 1:]
    fn = positives.sum(1, keepdims=True) - tp
    return (2 * tp + COMPETITION_EPS) / (2 * tp + fp + fn + COMPETITION_EPS)


def threshold_dice(probs: np.ndarray, truth: np.ndarray, candidates: np.ndarray = CANDIDATES) -> np.ndarray:
    """(C, T) competition Dice of one image's `probs > t` for every class and candidate threshold t."""
    return np.stack([image_threshold_dice(p.ravel(), t.ravel(), None, 1, candidates)[0] for p, t in zip(probs, truth)])


def best_candidates(mean_dice: np.ndarray) -> np.ndarray:
    """Index of the best candidate threshold along the last axis; the default unless another is better."""
    default = int(np.flatnonzero(CANDIDATES == DEFAULT)[0])
    best = mean_dice.argmax(-1)
    better = np.take_along_axis(mean_dice, best[..., None], -1)[..., 0] > mean_dice[..., default] + 1e-12
    return np.where(better, best, default)

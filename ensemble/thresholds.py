"""Per-class thresholds: read from the config, and the threshold arithmetic that tuning them needs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from configs.files import Thresholds, read_model
from configs.schema import DEFAULT_THRESHOLD
from configs.task import MetricSpec
from errors import UserError
from evaluate.counts import DEFAULT_METRIC, dice_score

CANDIDATES = np.round(np.arange(0.05, 0.96, 0.05), 2)


def resolve_thresholds(setting: float | Path, classes: tuple[str, ...]) -> np.ndarray:
    """A float for every class, or a thresholds.json file naming each class."""
    if isinstance(setting, (int, float)):
        return np.full(len(classes), float(setting), np.float32)
    table = read_model(setting, Thresholds, "thresholds file").thresholds
    missing = [c for c in classes if c not in table]
    if missing:
        raise UserError(f"bad thresholds file {setting}: no threshold for class {missing[0]!r}")
    return np.array([table[c] for c in classes], np.float32)


def image_threshold_dice(probs: np.ndarray, truth: np.ndarray, image: np.ndarray | None, images: int,
                         candidates: np.ndarray = CANDIDATES, metric: MetricSpec = DEFAULT_METRIC,
                         ignore: np.ndarray | None = None) -> np.ndarray:
    """(images, T) Dice (as `metric` scores it) of `probs > t` per image for every candidate threshold t.

    `probs`, `truth`, `image` (each pixel's image index; None for one image) and `ignore` (pixels counted in
    neither; None: none) are flat arrays of the same length."""
    slots = len(candidates) + 1  # slot b holds values above exactly b candidates
    index = np.searchsorted(candidates, probs, side="left")
    if image is not None:
        index = index + image.astype(np.int64) * slots
    positive, negative = (truth, ~truth) if ignore is None else (truth & ~ignore, ~truth & ~ignore)
    positives = np.bincount(index[positive], minlength=images * slots).reshape(images, slots)
    negatives = np.bincount(index[negative], minlength=images * slots).reshape(images, slots)
    tp = positives[:, ::-1].cumsum(1)[:, ::-1][:, 1:]  # above candidate j: slots j+1 and beyond
    fp = negatives[:, ::-1].cumsum(1)[:, ::-1][:, 1:]
    fn = positives.sum(1, keepdims=True) - tp
    return dice_score(tp, fp, fn, metric)


def best_candidates(mean_dice: np.ndarray) -> np.ndarray:
    """Index of the best candidate threshold along the last axis; the default unless another is better."""
    default = int(np.flatnonzero(CANDIDATES == DEFAULT_THRESHOLD)[0])
    best = mean_dice.argmax(-1)
    better = np.take_along_axis(mean_dice, best[..., None], -1)[..., 0] > mean_dice[..., default] + 1e-12
    return np.where(better, best, default)

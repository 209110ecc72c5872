"""Vectorised overlap metrics over the last two axes of (..., H, W) bool arrays, scored by a task's metric."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from configs.task import MetricSpec

COMPETITION_EPS = 1e-4  # the smoothing of the default metric: both empty -> Dice 1
DEFAULT_METRIC = MetricSpec(smoothing=COMPETITION_EPS, both_empty=1)


def dice_score(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, metric: MetricSpec = DEFAULT_METRIC) -> np.ndarray:
    """Dice as `metric` scores it; where truth and prediction are both empty: 1, 0, or NaN (left out of means)."""
    tp, fp, fn = (np.asarray(a, np.float64) for a in (tp, fp, fn))
    smoothing = metric.smoothing
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (2 * tp + smoothing) / (2 * tp + fp + fn + smoothing)
    empty = (tp + fp + fn) == 0
    if empty.any():
        value = np.where(empty, np.nan if metric.both_empty == "omit" else float(metric.both_empty), value)
    return value


def mean_scored(values: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """The mean over what the metric scored (NaN entries, left out by `both_empty: omit`, are skipped; a mean
    of nothing is NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


@dataclass(frozen=True)
class Counts:
    """True positives, false positives and false negatives per leading index."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    @classmethod
    def of(cls, pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None = None) -> Counts:
        """Counts of `pred` against `truth`; pixels of the HxW `ignore` mask count in neither."""
        pred, truth = pred.astype(bool), truth.astype(bool)
        if ignore is not None:
            pred, truth = pred & ~ignore, truth & ~ignore
        axes = (-2, -1)
        tp = np.count_nonzero(pred & truth, axis=axes)
        return cls(tp, np.count_nonzero(pred, axis=axes) - tp, np.count_nonzero(truth, axis=axes) - tp)

    def dice(self, metric: MetricSpec = DEFAULT_METRIC) -> np.ndarray:
        """Dice per entry as `metric` scores it (NaN where it leaves an entry out)."""
        return dice_score(self.tp, self.fp, self.fn, metric)

    def iou(self, eps: float = COMPETITION_EPS) -> np.ndarray:
        """Intersection over union per entry, smoothed by `eps`."""
        return (self.tp + eps) / (self.tp + self.fp + self.fn + eps)

    def precision(self, eps: float = COMPETITION_EPS) -> np.ndarray:
        """Precision per entry, smoothed by `eps`."""
        return (self.tp + eps) / (self.tp + self.fp + eps)

    def recall(self, eps: float = COMPETITION_EPS) -> np.ndarray:
        """Recall per entry, smoothed by `eps`."""
        return (self.tp + eps) / (self.tp + self.fn + eps)

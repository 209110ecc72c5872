"""Vectorised overlap metrics over the last two axes of (..., H, W) bool arrays."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPETITION_EPS = 1e-4  # the hand-bone competition's smoothing: both empty -> Dice 1


@dataclass(frozen=True)
class Counts:
    """True positives, false positives and false negatives per leading index."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    @classmethod
    def of(cls, pred: np.ndarray, truth: np.ndarray) -> Counts:
        pred, truth = pred.astype(bool), truth.astype(bool)
        axes = (-2, -1)
        tp = np.count_nonzero(pred & truth, axis=axes)
        return cls(tp, np.count_nonzero(pred, axis=axes) - tp, np.count_nonzero(truth, axis=axes) - tp)

    def dice(self, eps: float = COMPETITION_EPS) -> np.ndarray:
        return (2 * self.tp + eps) / (2 * self.tp + self.fp + self.fn + eps)

    def iou(self, eps: float = COMPETITION_EPS) -> np.ndarray:
        return (self.tp + eps) / (self.tp + self.fp + self.fn + eps)

    def precision(self, eps: float = COMPETITION_EPS) -> np.ndarray:
        return (self.tp + eps) / (self.tp + self.fp + eps)

    def recall(self, eps: float = COMPETITION_EPS) -> np.ndarray:
        return (self.tp + eps) / (self.tp + self.fn + eps)

"""Multi-label confusion: how many of class j's predicted pixels lie in class i's ground truth."""
from __future__ import annotations

import numpy as np

CHUNK = 1 << 20  # pixels per product: float32 sums stay exact integers


def overlap_counts(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(C, C) int64: entry [i, j] = |truth_i AND pred_j| for CxHxW bool masks."""
    classes = len(truth)
    pred, truth = pred.reshape(classes, -1), truth.reshape(classes, -1)
    counts = np.zeros((classes, classes), np.int64)
    for start in range(0, pred.shape[1], CHUNK):
        t = truth[:, start:start + CHUNK].astype(np.float32)
        p = pred[:, start:start + CHUNK].astype(np.float32)
        counts += (t @ p.T).astype(np.int64)
    return counts


def predicted_share(overlap: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Entry [i, j]: the share of class j's predicted pixels inside class i's truth (0 where j predicts nothing)."""
    return overlap / np.maximum(predicted, 1)[None, :]

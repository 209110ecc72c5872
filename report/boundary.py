"""Boundary error of one class on one image, with OpenCV distance transforms inside the bounding box
of truth and prediction (exact: every boundary pixel lies inside it)."""
from __future__ import annotations

import cv2
import numpy as np

FIELDS = ("wrong", "wrong_near", "distance_sum", "boundary_pixels")


def edge(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` with a 4-neighbour outside it (the image border counts as outside)."""
    padded = np.pad(mask, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def distance_to(pixels: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest set pixel of `pixels` (inf when there is none)."""
    if not pixels.any():
        return np.full(pixels.shape, np.inf, np.float32)
    return cv2.distanceTransform((~pixels).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def boundary_stats(pred: np.ndarray, truth: np.ndarray, near: float) -> np.ndarray:
    """`edge_stats` inside the bounding box of truth and prediction, padded by a pixel."""
    union = pred | truth
    if not union.any():
        return np.zeros(len(FIELDS))
    rows, cols = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))
    box = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))
    return edge_stats(pred[box], truth[box], near)


def edge_stats(pred: np.ndarray, truth: np.ndarray, near: float) -> np.ndarray:
    """[wrong pixels, wrong pixels within `near` px of the true boundary, summed boundary distances,
    boundary pixels counted]: the distances run from each predicted boundary pixel to the true boundary
    and back (the symmetric mean surface distance is their sum over their count); 0 when either is empty."""
    wrong = pred ^ truth
    true_edge, pred_edge = edge(truth), edge(pred)
    to_truth = distance_to(true_edge)
    stats = [np.count_nonzero(wrong), np.count_nonzero(wrong & (to_truth <= near)), 0.0, 0]
    if true_edge.any() and pred_edge.any():
        stats[2] = float(to_truth[pred_edge].sum() + distance_to(pred_edge)[true_edge].sum())
        stats[3] = int(np.count_nonzero(pred_edge) + np.count_nonzero(true_edge))
    return np.array(stats, np.float64)

"""The ensemble config's `weights:` file: per class, each entry's weight and the class's threshold."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from configs.files import EnsembleWeights, read_model, write_model
from configs.schema import PostProcess
from errors import UserError


def write_weights(path: Path, members: list[str], classes: tuple[str, ...], weights: np.ndarray,
                  thresholds: np.ndarray, extra: dict[str, Any]) -> Path:
    """`weights` is (entries x classes), each column summing to 1; `extra` is kept for the reader's eyes."""
    return write_model(path, EnsembleWeights(
        members=members,
        weights={c: {m: round(float(w), 6) for m, w in zip(members, weights[:, i])} for i, c in enumerate(classes)},
        thresholds={c: float(t) for c, t in zip(classes, thresholds)}, **extra))


def read_weights(path: Path, members: list[str], classes: tuple[str, ...]
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, PostProcess]]:
    """(entries x classes) weights, per-class thresholds and post-processing, checked against the config's entries."""
    document = read_model(path, EnsembleWeights, "weights file")
    if document.members != members:
        raise UserError(f"weights file {path} was tuned for other members than the config lists "
                        f"({document.members} vs {members}): re-run tune-ensemble")
    missing = next((c for c in classes if c not in document.weights or c not in document.thresholds), None)
    if missing is None:
        missing = next((f"{c}.{m}" for c in classes for m in members if m not in document.weights[c]), None)
    if missing is not None:
        raise UserError(f"bad weights file {path}: no entry for {missing!r}")
    weights = np.array([[document.weights[c][m] for c in classes] for m in members], np.float64)
    empty = [c for c, total in zip(classes, weights.sum(0)) if total <= 0]
    if empty:
        raise UserError(f"bad weights file {path}: class {empty[0]!r} has no member with a weight above 0")
    thresholds = np.array([document.thresholds[c] for c in classes], np.float32)
    return weights, thresholds, document.postprocess

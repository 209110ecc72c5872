"""The ensemble config's `weights:` file: per class, each entry's weight and the class's threshold."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import atomic
from configs.load import validate_config
from configs.schema import PostProcess
from errors import UserError
from jsonfile import number, read_json


def write_weights(path: Path, members: list[str], classes: tuple[str, ...], weights: np.ndarray,
                  thresholds: np.ndarray, extra: dict[str, Any]) -> Path:
    """`weights` is (entries x classes), each column summing to 1; `extra` is kept for the reader's eyes."""
    document = {
        "members": members,
        "weights": {c: {m: round(float(w), 6) for m, w in zip(members, weights[:, i])} for i, c in enumerate(classes)},
        "thresholds": {c: float(t) for c, t in zip(classes, thresholds)},
        **extra,
    }
    atomic.write_text(path, json.dumps(document, indent=1))
    return path


def read_weights(path: Path, members: list[str], classes: tuple[str, ...]
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, PostProcess]]:
    """(entries x classes) weights, per-class thresholds and post-processing, checked against the config's entries."""
    try:
        document = read_json(path)
    except OSError:
        raise UserError(f"cannot read weights file: {path}") from None
    except ValueError:
        raise UserError(f"weights file {path} is not valid JSON (or holds NaN/Infinity)") from None
    if not isinstance(document, dict) or document.get("members") != members:
        raise UserError(f"weights file {path} was tuned for other members than the config lists "
                        f"({document.get('members') if isinstance(document, dict) else None} vs {members}): "
                        f"re-run tune-ensemble")
    try:
        weights = np.array([[number(document["weights"][c][m]) for c in classes] for m in members], np.float64)
        thresholds = np.array([number(document["thresholds"][c]) for c in classes], np.float32)
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"bad weights file {path}: missing or bad entry {err}") from None
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise UserError(f"bad weights file {path}: weights must be finite and >= 0")
    empty = [c for c, total in zip(classes, weights.sum(0)) if total <= 0]
    if empty:
        raise UserError(f"bad weights file {path}: class {empty[0]!r} has no member with a weight above 0")
    outside = [c for c, t in zip(classes, thresholds) if not 0 <= t <= 1]
    if outside:
        raise UserError(f"bad weights file {path}: the threshold of {outside[0]!r} is not in [0, 1]")
    return weights, thresholds, read_postprocess(document.get("postprocess", {}), path)


def read_postprocess(table: Any, path: Path) -> dict[str, PostProcess]:
    if not isinstance(table, dict):
        raise UserError(f"bad weights file {path}: postprocess must map class names to steps")
    return {name: validate_config(step, PostProcess, f"{path} postprocess.{name}") for name, step in table.items()}

"""Per-class thresholds: read from config, or tuned on the ensemble's out-of-fold probabilities."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

import atomic
from configs.schema import EnsembleConfig, MemberConfig, validate_config
from data import get_task
from ensemble.members import expand
from ensemble.vote import class_probabilities, grid_means
from errors import UserError
from models.run_folder import RunFolder
from submit.metrics import COMPETITION_EPS

CANDIDATES = np.round(np.arange(0.05, 0.96, 0.05), 2)
DEFAULT = 0.5


def resolve_thresholds(setting: float | Path, classes: tuple[str, ...]) -> np.ndarray:
    """A float for every class, or a thresholds.json file naming each class."""
    if isinstance(setting, (int, float)):
        return np.full(len(classes), float(setting), np.float32)
    try:
        table = json.loads(Path(setting).read_text())["thresholds"]
        values = np.array([float(table[c]) for c in classes], np.float32)
    except OSError:
        raise UserError(f"cannot read thresholds file: {setting}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"bad thresholds file {setting}: missing or bad entry {err}") from None
    outside = [c for c, v in zip(classes, values) if not 0 <= v <= 1]
    if outside:
        raise UserError(f"bad thresholds file {setting}: the threshold of {outside[0]!r} is not in [0, 1]")
    return values


def count_above(values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """How many values are strictly greater than each (sorted) candidate."""
    bins = np.bincount(np.searchsorted(candidates, values, side="left"), minlength=len(candidates) + 1)
    return bins[::-1].cumsum()[::-1][1:]


def threshold_dice(probs: np.ndarray, truth: np.ndarray, candidates: np.ndarray = CANDIDATES) -> np.ndarray:
    """(C, T) competition Dice of `probs > t` for every class and candidate threshold t."""
    rows = []
    for p, t in zip(probs, truth):
        tp = count_above(p[t], candidates)
        fp = count_above(p[~t], candidates)
        fn = np.count_nonzero(t) - tp
        rows.append((2 * tp + COMPETITION_EPS) / (2 * tp + fp + fn + COMPETITION_EPS))
    return np.stack(rows)


def oof_sources(config: EnsembleConfig) -> tuple[list[dict[str, Path]], list[float], MemberConfig]:
    """Per ensemble entry: image name -> OOF file over all its folds; entry weights; a member config."""
    tables, weights, first_config = [], [], None
    for entry in config.member_entries():
        table: dict[str, Path] = {}
        for path, _ in expand([entry]):
            run = RunFolder(path)
            state = run.read_state()
            first_config = first_config or validate_config(state["config"], MemberConfig, str(path))
            for case in state.get("val_cases", []):
                name = Path(case).name
                if run.oof_path(name).is_file():
                    table[name] = run.oof_path(name)
        tables.append(table)
        weights.append(entry.weight)
    return tables, weights, first_config


def tune_thresholds(config: EnsembleConfig, out: Path, quiet: bool = False) -> Path:
    """Pick per class the threshold maximising the ensemble's mean OOF Dice; write thresholds.json.

    OOF files sit on grids of at most `train.oof_size`; each class plane is resampled to the image's
    size one at a time."""
    tables, weights, member_config = oof_sources(config)
    names = sorted(set.intersection(*(set(t) for t in tables)))
    if not names:
        raise UserError("no image has OOF probabilities from every ensemble entry: train the folds first")
    task = get_task(member_config.task, member_config.data.root)
    cases = task.cases_by_name(task.labelled_cases())
    total = np.zeros((len(task.classes), len(CANDIDATES)))
    for name in tqdm(names, desc="oof", unit="img", disable=quiet):
        truth = task.read_mask(cases[name])
        grids = grid_means([(np.load(t[name]), w) for t, w in zip(tables, weights)])
        for channel in range(len(task.classes)):  # one full-size class plane at a time
            plane = class_probabilities(grids, truth.shape[1:], channel)
            total[channel] += threshold_dice(plane[None], truth[channel:channel + 1])[0]
    mean = total / len(names)
    default = int(np.flatnonzero(CANDIDATES == DEFAULT)[0])
    best = np.where(mean.max(1) > mean[:, default] + 1e-12, mean.argmax(1), default)
    result = {"thresholds": {c: float(CANDIDATES[b]) for c, b in zip(task.classes, best)},
              "oof_images": len(names), "oof_dice_default": float(mean[:, default].mean()),
              "oof_dice_tuned": float(mean[np.arange(len(best)), best].mean())}
    atomic.write_text(out, json.dumps(result, indent=1))
    return out

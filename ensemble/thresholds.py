"""Per-class thresholds: read from config, or tuned on the ensemble's out-of-fold probabilities."""
from __future__ import annotations

import json
from dataclasses import dataclass
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


@dataclass
class OofSources:
    """Per ensemble entry: image name -> OOF file over all its folds; entry weights; a member config;
    the fold each image was validated in (by the first entry)."""

    tables: list[dict[str, Path]]
    weights: list[float]
    member_config: MemberConfig
    folds: dict[str, int]

    def common_names(self) -> list[str]:
        names = sorted(set.intersection(*(set(t) for t in self.tables)))
        if not names:
            raise UserError("no image has OOF probabilities from every ensemble entry: train the folds first")
        return names


def oof_sources(config: EnsembleConfig) -> OofSources:
    tables, weights, first_config, folds = [], [], None, {}
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
                    if not tables:
                        folds[name] = int(state.get("fold", 0))
        tables.append(table)
        weights.append(entry.weight)
    return OofSources(tables, weights, first_config, folds)


def tune_thresholds(config: EnsembleConfig, out: Path, quiet: bool = False) -> Path:
    """Pick per class the threshold maximising the ensemble's mean OOF Dice; write thresholds.json.

    OOF files sit on grids of at most `train.oof_size`; each class plane is resampled to the image's
    size one at a time."""
    sources = oof_sources(config)
    names = sources.common_names()
    task = get_task(sources.member_config.task, sources.member_config.data.root)
    cases = task.cases_by_name(task.labelled_cases())
    total = np.zeros((len(task.classes), len(CANDIDATES)))
    for name in tqdm(names, desc="oof", unit="img", disable=quiet):
        truth = task.read_mask(cases[name])
        grids = grid_means([(np.load(t[name]), w) for t, w in zip(sources.tables, sources.weights)])
        for channel in range(len(task.classes)):  # one full-size class plane at a time
            plane = class_probabilities(grids, truth.shape[1:], channel)
            total[channel] += threshold_dice(plane[None], truth[channel:channel + 1])[0]
    mean = total / len(names)
    default = int(np.flatnonzero(CANDIDATES == DEFAULT)[0])
    best = best_candidates(mean)
    result = {"thresholds": {c: float(CANDIDATES[b]) for c, b in zip(task.classes, best)},
              "oof_images": len(names), "oof_dice_default": float(mean[:, default].mean()),
              "oof_dice_tuned": float(mean[np.arange(len(best)), best].mean())}
    atomic.write_text(out, json.dumps(result, indent=1))
    return out

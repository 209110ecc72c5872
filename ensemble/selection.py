"""`tune-ensemble`: per class, the entries' weights by greedy forward selection with replacement on OOF
Dice (Caruana et al., 2004), then the class's threshold; every choice also scored by cross-validation
over folds (select on the other folds' images, score on this fold's, rotate).

Dice is computed on each image's OOF grid (the largest among the entries, at most `train.oof_size` a
side), the truth resampled there by area."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

import atomic
from configs.schema import EnsembleConfig
from data import get_task
from data.resample import mask_on_grid, resize_plane
from ensemble.thresholds import CANDIDATES, OofSources, best_candidates, image_threshold_dice, oof_sources
from ensemble.weights import write_weights
from errors import UserError
from models.run_folder import run_label

MAX_ADDITIONS = 20  # members added per class at most, after the first
Counts = tuple[int, ...]  # how many times each entry was picked


@dataclass
class ClassOof:
    """One class's OOF over every image, pixels of all images concatenated."""

    planes: np.ndarray  # (entries, pixels) float32 probabilities
    truth: np.ndarray  # (pixels,) bool
    image: np.ndarray  # (pixels,) index of each pixel's image
    images: int
    _dice: dict[Counts, np.ndarray] = field(default_factory=dict)

    def dice(self, counts: Counts) -> np.ndarray:
        """(images, thresholds) Dice of the vote weighted by `counts`, computed once per counts."""
        if counts not in self._dice:
            weights = np.asarray(counts, np.float32) / sum(counts)
            vote = np.tensordot(weights, self.planes, axes=1)
            self._dice[counts] = image_threshold_dice(vote, self.truth, self.image, self.images)
        return self._dice[counts]

    def mean_dice(self, counts: Counts, rows: np.ndarray) -> np.ndarray:
        """(thresholds,) mean Dice over the images in `rows`."""
        return self.dice(counts)[rows].mean(0)

    @property
    def entries(self) -> int:
        return len(self.planes)


def single(entry: int, entries: int) -> Counts:
    return tuple(int(i == entry) for i in range(entries))


def best_member(oof: ClassOof, rows: np.ndarray) -> Counts:
    """The entry whose own OOF Dice (at its best threshold) is highest; the first on a tie."""
    singles = [single(m, oof.entries) for m in range(oof.entries)]
    return max(singles, key=lambda counts: oof.mean_dice(counts, rows).max())


def uniform(oof: ClassOof, rows: np.ndarray) -> Counts:
    return (1,) * oof.entries


def forward_selection(oof: ClassOof, rows: np.ndarray) -> Counts:
    """Start from the best member; add (with replacement) the entry that most improves Dice, until none does."""
    counts = best_member(oof, rows)
    best = oof.mean_dice(counts, rows).max()
    for _ in range(MAX_ADDITIONS):
        candidates = [tuple(c + (i == m) for i, c in enumerate(counts)) for m in range(oof.entries)]
        scores = [oof.mean_dice(candidate, rows).max() for candidate in candidates]
        top = int(np.argmax(scores))
        if scores[top] <= best + 1e-12:
            break
        counts, best = candidates[top], scores[top]
    return counts


STRATEGIES: dict[str, Callable[[ClassOof, np.ndarray], Counts]] = {
    "best_member": best_member, "uniform": uniform, "tuned": forward_selection}


def settle(oof: ClassOof, counts: Counts, rows: np.ndarray) -> int:
    """Index of the threshold candidate for these counts on these images."""
    return int(best_candidates(oof.mean_dice(counts, rows)))


def cross_validated(oof: ClassOof, folds: np.ndarray) -> dict[str, float]:
    """Per strategy, the mean Dice over images, each image scored by a choice made without its fold."""
    held_out = {name: np.zeros(oof.images) for name in STRATEGIES}
    for fold in np.unique(folds):
        select, score = folds != fold, folds == fold
        for name, strategy in STRATEGIES.items():
            counts = strategy(oof, select)
            held_out[name][score] = oof.dice(counts)[score, settle(oof, counts, select)]
    return {name: float(values.mean()) for name, values in held_out.items()}


@dataclass
class ClassResult:
    name: str
    counts: Counts
    threshold: float
    selection: dict[str, float]  # Dice on the images the weights were chosen on
    validated: dict[str, float]  # cross-validated Dice


class OofReader:
    """Each image's truth on its OOF grid, read once; then one class's OOF of every entry at a time."""

    def __init__(self, sources: OofSources, names: list[str], quiet: bool):
        self.sources, self.names = sources, names
        task = get_task(sources.member_config.task, sources.member_config.data.root)
        cases = task.cases_by_name(task.labelled_cases())
        self.classes = task.classes
        self.grids, self.truths = [], []
        for name in tqdm(names, desc="truth", unit="img", disable=quiet):
            grid = max((np.load(table[name], mmap_mode="r").shape[1:] for table in sources.tables),
                       key=lambda shape: shape[0] * shape[1])
            truth = task.read_mask(cases[name])
            self.grids.append(grid)
            self.truths.append([np.packbits(mask_on_grid(plane, grid)) for plane in truth])

    def read_class(self, channel: int) -> ClassOof:
        planes, truth, image = [], [], []
        for index, (name, grid) in enumerate(zip(self.names, self.grids)):
            planes.append(np.stack([resize_plane(np.load(table[name], mmap_mode="r")[channel].astype(np.float32), grid)
                                    for table in self.sources.tables]).reshape(len(self.sources.tables), -1))
            pixels = grid[0] * grid[1]
            truth.append(np.unpackbits(self.truths[index][channel], count=pixels).astype(bool))
            image.append(np.full(pixels, index, np.int32))
        return ClassOof(np.concatenate(planes, 1), np.concatenate(truth), np.concatenate(image), len(self.names))


def tune_class(oof: ClassOof, name: str, folds: np.ndarray) -> ClassResult:
    everything = np.ones(oof.images, bool)
    chosen = {key: strategy(oof, everything) for key, strategy in STRATEGIES.items()}
    thresholds = {key: settle(oof, counts, everything) for key, counts in chosen.items()}
    selection = {key: float(oof.mean_dice(counts, everything)[thresholds[key]]) for key, counts in chosen.items()}
    return ClassResult(name, chosen["tuned"], float(CANDIDATES[thresholds["tuned"]]), selection,
                       cross_validated(oof, folds))


@dataclass
class Tuning:
    weights_file: Path
    table_file: Path
    members: list[str]
    classes: list[ClassResult]

    def table(self) -> str:
        """The cross-validated Dice per class and on average: best single member, uniform vote, tuned vote."""
        lines = [f"{'class':<16} {'best member':>11} {'uniform':>8} {'tuned':>8}  tuned weights"]
        for result in self.classes:
            v = result.validated
            lines.append(f"{result.name:<16} {v['best_member']:11.4f} {v['uniform']:8.4f} {v['tuned']:8.4f}  "
                         f"{describe(result.counts, self.members)}")
        means = {k: np.mean([r.validated[k] for r in self.classes]) for k in STRATEGIES}
        lines.append(f"{'mean':<16} {means['best_member']:11.4f} {means['uniform']:8.4f} {means['tuned']:8.4f}")
        return "\n".join(lines)


def describe(counts: Counts, members: list[str]) -> str:
    """`2x unetpp + effisegnet`: each chosen entry's short name, with how often it was picked."""
    return " + ".join(f"{c}x {run_label(m)}" if c > 1 else run_label(m) for c, m in zip(counts, members) if c)


def write_table(path: Path, members: list[str], results: list[ClassResult]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", "best_member", "uniform", "tuned", "selection_best_member", "selection_uniform",
                     "selection_tuned", "threshold", "weights"])
    for r in results:
        writer.writerow([r.name, *(f"{r.validated[k]:.6f}" for k in STRATEGIES),
                         *(f"{r.selection[k]:.6f}" for k in STRATEGIES), r.threshold, describe(r.counts, members)])
    writer.writerow(["mean", *(f"{np.mean([r.validated[k] for r in results]):.6f}" for k in STRATEGIES),
                     *(f"{np.mean([r.selection[k] for r in results]):.6f}" for k in STRATEGIES), "", ""])
    atomic.write_text(path, buffer.getvalue())


def tune_ensemble(config: EnsembleConfig, out: Path, quiet: bool = False) -> Tuning:
    """Write the weights file `out` and, beside it, `<out>_cv.csv` with the cross-validated table."""
    atomic.check_target(out)
    sources = oof_sources(config)
    names = sources.common_names()
    folds = np.array([sources.folds[name] for name in names])
    if len(np.unique(folds)) < 2:
        raise UserError("tune-ensemble cross-validates over folds: the first member has OOF images from "
                        "only one fold; train at least 2 folds")
    members = [entry.path for entry in config.member_entries()]
    reader = OofReader(sources, names, quiet)
    results = [tune_class(reader.read_class(channel), name, folds)
               for channel, name in enumerate(tqdm(reader.classes, desc="select", unit="class", disable=quiet))]
    counts = np.array([r.counts for r in results], np.float64).T
    table_file = out.with_name(f"{out.stem}_cv.csv")
    write_table(table_file, members, results)
    summary = {"oof_images": len(names), "folds": sorted(int(f) for f in np.unique(folds)),
               "cv_table": table_file.name,
               **{f"cv_dice_{k}": float(np.mean([r.validated[k] for r in results])) for k in STRATEGIES},
               **{f"selection_dice_{k}": float(np.mean([r.selection[k] for r in results])) for k in STRATEGIES}}
    write_weights(out, members, reader.classes, counts / counts.sum(0), np.array([r.threshold for r in results]),
                  summary)
    return Tuning(out, table_file, members, results)

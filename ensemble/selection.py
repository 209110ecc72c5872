"""Per class, the entries' weights by greedy forward selection with replacement on OOF Dice (Caruana et
al., 2004), then the class's threshold; every choice also scored by cross-validation over folds (select
on the other folds' images, score on this fold's, rotate)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ensemble.oof import ClassOof, Counts
from ensemble.thresholds import CANDIDATES, best_candidates
from evaluate.counts import mean_scored

MAX_ADDITIONS = 20  # members added per class at most, after the first


def single(entry: int, entries: int) -> Counts:
    """Counts picking entry `entry` alone among `entries`."""
    return tuple(int(i == entry) for i in range(entries))


def best_member(oof: ClassOof, rows: np.ndarray) -> Counts:
    """The entry whose own OOF Dice (at its best threshold) is highest; the first on a tie."""
    singles = [single(m, oof.entries) for m in range(oof.entries)]
    return max(singles, key=lambda counts: oof.mean_dice(counts, rows).max())


def uniform(oof: ClassOof, rows: np.ndarray) -> Counts:
    """Counts giving every entry of `oof` one vote."""
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


def cross_validated(oof: ClassOof, folds: np.ndarray) -> dict[str, np.ndarray]:
    """Per strategy, each image's Dice under the choice made without its fold."""
    held_out = {name: np.zeros(oof.images) for name in STRATEGIES}
    for fold in np.unique(folds):
        select, score = folds != fold, folds == fold
        for name, strategy in STRATEGIES.items():
            counts = strategy(oof, select)
            held_out[name][score] = oof.dice(counts)[score, settle(oof, counts, select)]
    return held_out


@dataclass
class ClassResult:
    """One class's tuned vote: its counts and threshold, and the selection and held-out Dice per strategy."""
    name: str
    counts: Counts
    threshold: float
    selection: dict[str, float]  # Dice on the images the weights were chosen on
    held_out: dict[str, np.ndarray]  # per strategy, each image's cross-validated Dice

    @property
    def validated(self) -> dict[str, float]:
        """Cross-validated mean Dice per strategy."""
        return {name: float(mean_scored(values)) for name, values in self.held_out.items()}


def tune_class(oof: ClassOof, name: str, folds: np.ndarray) -> ClassResult:
    """Tune one class's entry counts and threshold on its OOF, cross-validated over `folds`."""
    everything = np.ones(oof.images, bool)
    chosen = {key: strategy(oof, everything) for key, strategy in STRATEGIES.items()}
    thresholds = {key: settle(oof, counts, everything) for key, counts in chosen.items()}
    selection = {key: float(oof.mean_dice(counts, everything)[thresholds[key]]) for key, counts in chosen.items()}
    return ClassResult(name, chosen["tuned"], float(CANDIDATES[thresholds["tuned"]]), selection,
                       cross_validated(oof, folds))

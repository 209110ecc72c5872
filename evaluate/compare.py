"""`compare`: several submissions scored per image against the same labels, the first against each other
one by the paired bootstrap (over patients where the task groups its images)."""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import atomic
from errors import UserError
from evaluate.bootstrap import Paired, paired_bootstrap
from evaluate.counts import mean_scored
from evaluate.score import labelled_predictions

COLUMNS = ("a", "b", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_b_better", "wins_a", "wins_b", "ties")


@dataclass(frozen=True)
class ImageScores:
    """Mean Dice over classes per image (as `score` averages it), by image name, with each image's group."""

    names: tuple[str, ...]
    groups: tuple[str, ...]
    dice: np.ndarray


@dataclass(frozen=True)
class Comparison:
    """The paired bootstrap of CSV b against CSV a on the same images (diff = b - a)."""
    a: str
    b: str
    paired: Paired

    def row(self) -> dict:
        """The comparison as a row of `compare --out`."""
        return {"a": self.a, "b": self.b, **asdict(self.paired)}


def image_scores(task_name: str, csv_path: Path | str, data_root: Path | str, quiet: bool = False) -> ImageScores:
    """Per-image (and per-group) Dice of one CSV against the labels under `data_root`."""
    task, predictions = labelled_predictions(task_name, csv_path, data_root, quiet=quiet)
    names, groups, dice = [], [], []
    for prediction in predictions:
        names.append(prediction.name)
        groups.append(task.group(prediction.case))
        dice.append(float(mean_scored(prediction.counts().dice(task.spec.metric))))
    return ImageScores(tuple(names), tuple(groups), np.array(dice))


def same_images(first: ImageScores, other: ImageScores, first_path: str, other_path: str) -> None:
    """Refuse, in one line, two CSVs that do not cover the same images."""
    if first.names == other.names:
        return
    only_first, only_other = sorted(set(first.names) - set(other.names)), sorted(set(other.names) - set(first.names))
    example = f"{only_first[0]!r} only in {first_path}" if only_first else f"{only_other[0]!r} only in {other_path}"
    raise UserError(f"{first_path} and {other_path} cover different images ({example}): compare needs the same set")


def compare_csvs(task_name: str, csv_paths: list[str], data_root: Path | str, resamples: int = 10000,
                 seed: int = 0, quiet: bool = False) -> list[Comparison]:
    """The first CSV against each other one (diff = other - first)."""
    if len(csv_paths) < 2:
        raise UserError("compare needs at least two --csv files")
    if resamples < 1:
        raise UserError(f"--resamples must be at least 1 (got {resamples})")
    scores = [image_scores(task_name, path, data_root, quiet) for path in csv_paths]
    first = scores[0]
    comparisons = []
    for path, other in zip(csv_paths[1:], scores[1:]):
        same_images(first, other, csv_paths[0], path)
        scored = np.isfinite(first.dice) & np.isfinite(other.dice)  # images the metric leaves out in either
        if not scored.any():
            raise UserError(f"{csv_paths[0]} and {path}: the task's metric scores none of their images")
        paired = paired_bootstrap(first.dice[scored], other.dice[scored], np.array(first.groups)[scored], resamples,
                                  seed)
        comparisons.append(Comparison(str(csv_paths[0]), str(path), paired))
    return comparisons


def comparison_table(comparisons: list[Comparison]) -> str:
    """The comparisons as an aligned text table for the terminal."""
    lines = [f"{'b (against a = ' + comparisons[0].a + ')':<48} {'n':>4} {'mean_a':>7} {'mean_b':>7} {'diff':>8} "
             f"{'95% interval':>19} {'P(b>a)':>7} {'wins a/b/tie':>13}"]
    for c in comparisons:
        p = c.paired
        lines.append(f"{c.b:<48} {p.n:4d} {p.mean_a:7.4f} {p.mean_b:7.4f} {p.diff:+8.4f} "
                     f"[{p.ci_low:+8.4f}, {p.ci_high:+8.4f}] {p.p_b_better:7.3f} {p.wins_a:>4}/{p.wins_b}/{p.ties}")
    return "\n".join(lines)


def write_comparisons(comparisons: list[Comparison], out: Path | str) -> None:
    """The comparisons as CSV at `out`, with the documented columns."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(c.row() for c in comparisons)
    atomic.write_text(Path(out), buffer.getvalue())

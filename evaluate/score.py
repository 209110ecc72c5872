"""`score`: a submission CSV against labels, per class."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from configs.task import MetricSpec
from data import get_task
from data.task import Task
from errors import UserError
from evaluate.counts import DEFAULT_METRIC, Counts, mean_scored
from submit.submission import decode_row, group_rows, read_submission


@dataclass(frozen=True)
class Prediction:
    """One submission decoded: its masks per image name, at each labelled image's size."""
    name: str
    case: str
    pred: np.ndarray
    truth: np.ndarray
    ignore: np.ndarray | None = None  # HxW pixels counted in neither (a label map's ignore value)

    def counts(self) -> Counts:
        """TP, FP and FN per class of this image, ignored pixels left out."""
        return Counts.of(self.pred, self.truth, self.ignore)


@dataclass(frozen=True)
class ScoreReport:
    """Per-class means over images of the competition metrics."""

    classes: tuple[str, ...]
    dice: np.ndarray
    iou: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    images: int

    @property
    def mean_dice(self) -> float:
        """The mean over classes of the per-class mean Dice (classes the metric never scored left out)."""
        return float(mean_scored(self.dice))

    def table(self) -> str:
        """The report as an aligned text table, a row per class and the mean."""
        lines = [f"{'class':<12} {'dice':>7} {'iou':>7} {'prec':>7} {'recall':>7}"]
        for i, name in enumerate(self.classes):
            lines.append(f"{name:<12} {self.dice[i]:7.4f} {self.iou[i]:7.4f} {self.precision[i]:7.4f} "
                         f"{self.recall[i]:7.4f}")
        lines.append(f"{'mean':<12} {self.mean_dice:7.4f} {self.iou.mean():7.4f} "
                     f"{self.precision.mean():7.4f} {self.recall.mean():7.4f}   ({self.images} images)")
        return "\n".join(lines)


def report_from_counts(classes: tuple[str, ...], counts: list[Counts],
                       metric: MetricSpec = DEFAULT_METRIC) -> ScoreReport:
    """Average per-image, per-class metrics over images (Dice as the task's metric scores it)."""
    stacked = Counts(*(np.stack([getattr(c, f) for c in counts]) for f in ("tp", "fp", "fn")))
    return ScoreReport(classes, mean_scored(stacked.dice(metric), 0), stacked.iou().mean(0),
                       stacked.precision().mean(0), stacked.recall().mean(0), len(counts))


def labelled_predictions(task_name: str, csv_path: Path | str, data_root: Path | str,
                         quiet: bool = False) -> tuple[Task, Iterator[Prediction]]:
    """The task and, per CSV image matched by its submission name to a labelled case: (name, case, pred, truth).
    Where the task leaves empty masks out of the CSV, every labelled case is scored (one without rows is empty)."""
    task = get_task(task_name, data_root)
    spec = task.spec.submission
    rows = read_submission(csv_path, spec)
    labelled = task.cases_by_key(task.labelled_cases())
    names = sorted({row.image_name for row in rows} | (set(labelled) if spec.empty == "omit" else set()))
    unlabelled = [n for n in names if n not in labelled]
    if unlabelled:
        raise UserError(f"{csv_path}: image {unlabelled[0]!r} has no label under {data_root}")
    if not names:
        raise UserError(f"{csv_path}: no rows to score")
    table = group_rows(rows, task.classes, names, str(csv_path), spec)

    def predictions() -> Iterator[Prediction]:
        for name in tqdm(names, desc="score", unit="img", disable=quiet):
            labels = task.read_labels(labelled[name])
            pred = np.stack([decode_row(row, labels.masks.shape[1:], str(csv_path), spec) for row in table[name]])
            yield Prediction(name, labelled[name], pred, labels.masks, labels.ignore)

    return task, predictions()


def score_csv(task_name: str, csv_path: Path | str, data_root: Path | str, quiet: bool = False) -> ScoreReport:
    """Score a submission against the labelled cases of `data_root`, matched by base name."""
    task, predictions = labelled_predictions(task_name, csv_path, data_root, quiet=quiet)
    return report_from_counts(task.classes, [p.counts() for p in predictions], task.spec.metric)

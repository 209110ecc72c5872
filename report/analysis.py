"""What the report shows, computed once over the images every input predicts: per image and class
counts, the first input's multi-label overlap and boundary error."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from configs.task import load_task_spec
from data import get_task
from data.task import Task
from errors import UserError
from evaluate.counts import Counts
from report.boundary import FIELDS, boundary_stats
from report.confusion import overlap_counts
from report.sources import CsvSource, RunsSource, Source


@dataclass
class Analysis:
    """Everything the report shows, over the images every input predicts."""

    task: Task
    cases: dict[str, str]  # image name -> labelled case
    names: list[str]
    labels: list[str]  # one per input, the first analysed in depth
    counts: list[Counts]  # per input: (images, classes) tp/fp/fn
    overlap: np.ndarray  # (classes, classes) |truth_i AND pred_j| summed over images, first input
    predicted: np.ndarray  # (classes,) predicted pixels, first input
    boundary: np.ndarray  # (classes, len(FIELDS)) summed over images, first input
    near: float

    @property
    def dice(self) -> np.ndarray:
        """(images, classes) Dice of the first input."""
        return self.counts[0].dice(self.task.spec.metric)

    def boundary_share(self) -> np.ndarray:
        """Per class, the share of wrong pixels within `near` px of the true boundary."""
        return self.boundary[:, 1] / np.maximum(self.boundary[:, 0], 1)

    def boundary_distance(self) -> np.ndarray:
        """Per class, the symmetric mean distance between predicted and true boundaries (nan if never both)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.boundary[:, 3] > 0, self.boundary[:, 2] / self.boundary[:, 3], np.nan)


def open_sources(task_name: str, csvs: list[str], runs: list[str], data_root: str | None) -> tuple[Task, list[Source]]:
    spec = load_task_spec(task_name)
    classes, submission = tuple(spec.classes), spec.submission
    sources: list[Source] = ([CsvSource(Path(p), classes, submission) for p in csvs] +
                             [RunsSource(p, classes, submission) for p in runs])
    if not sources:
        raise UserError("analyze needs --csv or --runs")
    if data_root is None:
        first_runs = next((s for s in sources if isinstance(s, RunsSource)), None)
        if first_runs is None:
            raise UserError("analyze of a CSV needs --data-root (the labelled images)")
        data_root = first_runs.data_root()
    labels = [s.label for s in sources]
    for index, source in enumerate(sources):  # unique labels: a.csv and runs/a/fold* would both be "a"
        if labels.count(source.label) > 1:
            source.label = f"{source.label} ({index + 1})"
    return get_task(task_name, data_root), sources


def common_names(task: Task, labelled: dict[str, str], sources: list[Source]) -> list[str]:
    unlabelled = sorted(sources[0].names - set(labelled))
    if unlabelled:
        raise UserError(f"{sources[0].label}: image {unlabelled[0]!r} has no label under {task.root}")
    names = sorted(set.intersection(*(s.names for s in sources)))
    if not names:
        raise UserError("the inputs share no labelled image: compare predictions of the same images")
    return names


def analyse(task: Task, sources: list[Source], near: float, quiet: bool) -> Analysis:
    labelled = task.cases_by_key(task.labelled_cases())
    names = common_names(task, labelled, sources)
    classes = len(task.classes)
    counts = [[] for _ in sources]
    overlap, predicted = np.zeros((classes, classes), np.int64), np.zeros(classes, np.int64)
    boundary = np.zeros((classes, len(FIELDS)))
    for name in tqdm(names, desc="analyze", unit="img", disable=quiet):
        labels = task.read_labels(labelled[name])
        truth = labels.masks
        for index, source in enumerate(sources):
            pred = source.masks(name, truth.shape[1:])
            counts[index].append(Counts.of(pred, truth, labels.ignore))
            if index == 0:
                overlap += overlap_counts(pred, truth)
                predicted += pred.reshape(classes, -1).sum(1)
                boundary += np.stack([boundary_stats(p, t, near) for p, t in zip(pred, truth)])
    stacked = [Counts(*(np.stack([getattr(c, f) for c in per_image]) for f in ("tp", "fp", "fn")))
               for per_image in counts]
    return Analysis(task, labelled, names, [s.label for s in sources], stacked, overlap, predicted, boundary, near)

"""A fold's validation cases as the member's predictor consumes them, and their Dice."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from tqdm import tqdm

from data.resample import resize_plane
from data.task import Task
from evaluate.counts import Counts
from models.predictors import Predictor, as_voted


class ValidationSet:
    """The fold's validation cases, each image kept as the member's predictor consumes it
    (resized, or whole for sliding windows), labels bit-packed at full resolution."""

    def __init__(self, task: Task, cases: list[str], predictor: Predictor, quiet: bool):
        """Read `cases` of `task` once: images as `predictor` consumes them, labels bit-packed."""
        self.task, self.cases = task, cases
        self._inputs, self._packed, self.shapes, self.ignores = [], [], [], []
        for case in tqdm(cases, desc="validation", unit="img", disable=quiet):
            self._inputs.append(predictor.prepare(task.read_image(case)))
            labels = task.read_labels(case)
            self.shapes.append(labels.masks.shape[1:])
            self._packed.append(np.packbits(labels.masks, axis=-1))
            self.ignores.append(labels.ignore)

    def truth(self, index: int) -> np.ndarray:
        """The CxHxW bool truth of the `index`-th case, unpacked."""
        return np.unpackbits(self._packed[index], axis=-1, count=self.shapes[index][1]).astype(bool)

    def grid_probabilities(self, predictor: Predictor, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(index, Cxhxw probabilities on the predictor's grid, as the vote takes them) for every case."""
        for start in range(0, len(self.cases), batch_size):
            batch = predictor.predict_batch(self._inputs[start:start + batch_size])
            yield from enumerate(map(as_voted, batch), start=start)

    def dice_sums(self, predictor: Predictor, batch_size: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-class sums over images of the Dice (the task's metric) at threshold 0.5 and full resolution, and
        per class the number of images the metric scored: summable across processes."""
        sums, scored = np.zeros(num_classes), np.zeros(num_classes)
        for index, probs in self.grid_probabilities(predictor, batch_size):
            pred = np.stack([resize_plane(plane, self.shapes[index]) > 0.5 for plane in probs])
            dice = Counts.of(pred, self.truth(index), self.ignores[index]).dice(self.task.spec.metric)
            sums += np.nan_to_num(dice)
            scored += np.isfinite(dice)
        return sums, scored

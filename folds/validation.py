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
        self.task, self.cases = task, cases
        self._inputs, self._packed, self.shapes = [], [], []
        for case in tqdm(cases, desc="validation", unit="img", disable=quiet):
            self._inputs.append(predictor.prepare(task.read_image(case)))
            mask = task.read_mask(case)
            self.shapes.append(mask.shape[1:])
            self._packed.append(np.packbits(mask, axis=-1))

    def truth(self, index: int) -> np.ndarray:
        return np.unpackbits(self._packed[index], axis=-1, count=self.shapes[index][1]).astype(bool)

    def grid_probabilities(self, predictor: Predictor, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(index, Cxhxw probabilities on the predictor's grid, as the vote takes them) for every case."""
        for start in range(0, len(self.cases), batch_size):
            batch = predictor.predict_batch(self._inputs[start:start + batch_size])
            yield from enumerate(map(as_voted, batch), start=start)

    def dice_sums(self, predictor: Predictor, batch_size: int, num_classes: int) -> tuple[np.ndarray, int]:
        """Per-class sums over images of the Dice (competition formula) at threshold 0.5 and full
        resolution, and the number of images: summable across processes."""
        sums = np.zeros(num_classes)
        for index, probs in self.grid_probabilities(predictor, batch_size):
            pred = np.stack([resize_plane(plane, self.shapes[index]) > 0.5 for plane in probs])
            sums += Counts.of(pred, self.truth(index)).dice()
        return sums, len(self.cases)

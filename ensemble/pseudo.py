"""`pseudo-label`: the ensemble's masks for the test images written as labels in the task's own layout (a
data root of its own), and a splits file that adds them to every fold's `train` list, never to `val`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from atomic import atomic_folder, claimable_folder
from configs.files import Fold
from configs.schema import EnsembleConfig
from data import get_task
from data.splits import read_splits, write_splits
from data.task import ROOT_SEPARATOR
from ensemble.predict import decoded_batches, load_plan
from errors import UserError
from models.device import pick_device

SPLITS_FILE = "splits.json"


def confidence(planes: list[tuple[np.ndarray, np.ndarray]], every_class_present: bool) -> float:
    """Mean of max(p, 1 - p) over the predicted foreground's neighbourhood (each class's mask dilated by
    1/64 of the image's longer side, at least 3 pixels): how sure the vote is where its masks' edges lie.
    A class predicted empty where every image holds every class is a miss: the image scores 0. Elsewhere
    an all-empty prediction scores the mean over the whole image."""
    if every_class_present and any(not mask.any() for _, mask in planes):
        return 0.0
    shape = planes[0][0].shape
    radius = max(3, round(max(shape) / 64))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    total, count = 0.0, 0
    for probs, mask in planes:
        near = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        sure = np.maximum(probs, 1 - probs)
        total, count = total + float(sure[near].sum()), count + int(near.sum())
    if count == 0:
        return float(np.mean([np.maximum(p, 1 - p).mean() for p, _ in planes]))
    return total / count


@dataclass(frozen=True)
class PseudoLabels:
    root: Path
    splits: Path
    labelled: int
    dropped: int


def pseudo_label(config: EnsembleConfig, out: Path, splits: Path, min_confidence: float = 0.0,
                 name: str = "pseudo", quiet: bool = False) -> PseudoLabels:
    """Label the test images of `config` under `out`; `out/splits.json` is `splits` with them added."""
    if not 0 <= min_confidence <= 1:
        raise UserError(f"--min-confidence {min_confidence}: expected a value in [0, 1]")
    if not name or ROOT_SEPARATOR in name or "/" in name:
        raise UserError(f"--name {name!r}: a non-empty name without '/' or '{ROOT_SEPARATOR}'")
    task = get_task(config.task, config.data.root)
    folds = read_splits(splits)
    if folds.task != config.task:
        raise UserError(f"{splits} holds {folds.task} folds, but the ensemble's task is {config.task}")
    claimable_folder(out, "pseudo-label", "--out", beside=True)
    plan = load_plan(config, task, pick_device(config.device, key="device"))
    cases, labelled = task.test_images(), []
    with atomic_folder(out, "pseudo-label") as folder, tqdm(total=len(cases), desc="pseudo-label", unit="img",
                                                            disable=quiet) as bar:
        for batch in decoded_batches(task, cases, config.batch_size):
            for (case, image), vote in zip(batch, plan.votes([image for _, image in batch])):
                planes = list(plan.planes(vote, image.shape[:2]))
                if confidence(planes, task.every_image_holds_every_class) >= min_confidence:
                    masks = np.stack([mask for _, mask in planes])
                    labelled.append(f"{name}{ROOT_SEPARATOR}{task.write_label(case, masks, folder)}")
            bar.update(len(batch))
        earlier = f"{name}{ROOT_SEPARATOR}"  # a new round under the same name replaces the last one's labels
        extended = folds.model_copy(update={"folds": [
            Fold(train=[c for c in fold.train if not c.startswith(earlier)] + labelled, val=fold.val)
            for fold in folds.folds]})
        write_splits(extended, folder / SPLITS_FILE)
    return PseudoLabels(out, out / SPLITS_FILE, len(labelled), len(cases) - len(labelled))

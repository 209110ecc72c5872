"""`pseudo-label`: per fold, the vote of the members that held that fold's validation images out, written as
labels in the task's own layout (`OUT/fold<k>/`, a data root of its own), and a splits file that adds fold k's
labels to fold k's `train` list, never to `val`: no fold trains on labels drawn from its own validation images."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from atomic import atomic_folder, claimable_folder
from configs.files import Fold, Splits
from configs.schema import EnsembleConfig
from data import get_task
from data.splits import read_splits, write_splits
from data.task import Task
from ensemble.predict import Plan, decoded_batches, load_plan
from errors import UserError
from models.device import pick_device
from names import ROOT_SEPARATOR

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
    """What pseudo-label wrote: the root, the extended splits, each fold's extra root, counts."""
    root: Path
    splits: Path
    roots: dict[str, Path]  # data.extra_roots key -> its fold's labels
    labelled: int
    dropped: int


def fold_root_name(name: str, fold: int) -> str:
    """The `data.extra_roots` key of fold `fold`'s pseudo-labels: `<name>-fold<k>`."""
    return f"{name}-fold{fold}"


def fold_members(plan: Plan, folds: Splits, splits: Path) -> list[Plan]:
    """Per fold, the plan's members that held exactly that fold's validation images out in training; a fold
    without one is one line (other members learnt from its validation images)."""
    plans = []
    for index, fold in enumerate(folds.folds):
        members = [m for m in plan.members if m.run.state().val_cases == fold.val]
        if not members:
            raise UserError(f"{splits}: no member was trained with fold {index}'s validation images held out (its "
                            f"state.json val_cases): list each fold's members, so no fold's pseudo-labels come from "
                            f"members that saw its validation images")
        plans.append(replace(plan, members=members))
    return plans


def label_fold(plan: Plan, task: Task, folder: Path, min_confidence: float, batch_size: int, quiet: bool,
               desc: str) -> list[str]:
    """The plan's vote on every test image of `task` written as labels under `folder`; the cases written."""
    cases, labelled, writer = task.test_images(), [], task.write_labels(folder)
    with tqdm(total=len(cases), desc=desc, unit="img", disable=quiet) as bar:
        for batch in decoded_batches(task, cases, batch_size):
            for (case, image), vote in zip(batch, plan.votes([image for _, image in batch])):
                planes = list(plan.planes(vote, image.shape[:2]))
                if confidence(planes, task.every_image_holds_every_class) >= min_confidence:
                    labelled.append(writer.add(case, np.stack([mask for _, mask in planes])))
            bar.update(len(batch))
    writer.close()
    return labelled


def pseudo_label(config: EnsembleConfig, out: Path, splits: Path, min_confidence: float = 0.0,
                 name: str = "pseudo", quiet: bool = False) -> PseudoLabels:
    """Label the test images of `config` under `out/fold<k>/` with fold k's members; `out/splits.json` is
    `splits` with each fold's labels added to its train list. `min_confidence` is in [0, 1] (--min-confidence's
    range)."""
    if not name or ROOT_SEPARATOR in name or "/" in name:
        raise UserError(f"--name {name!r}: a non-empty name without '/' or '{ROOT_SEPARATOR}'")
    task = get_task(config.task, config.data.root)
    folds = read_splits(splits)
    if folds.task != task.name:
        raise UserError(f"{splits} holds {folds.task} folds, but the ensemble's task is {task.name}")
    claimable_folder(out, "pseudo-label", "--out", beside=True)
    plans = fold_members(load_plan(config, task, pick_device(config.device, key="device")), folds, splits)
    roots, extended, total = {}, [], 0
    earlier = re.compile(rf"^{re.escape(name)}-fold\d+{re.escape(ROOT_SEPARATOR)}")  # a new round replaces these
    with atomic_folder(out, "pseudo-label") as folder:
        for index, (fold, plan) in enumerate(zip(folds.folds, plans)):
            key = fold_root_name(name, index)
            written = label_fold(plan, task, folder / f"fold{index}", min_confidence, config.batch_size, quiet,
                                 f"pseudo-label {key}")
            roots[key], total = out / f"fold{index}", total + len(written)
            extended.append(Fold(train=[c for c in fold.train if not earlier.match(c)] +
                                 [f"{key}{ROOT_SEPARATOR}{case}" for case in written], val=fold.val))
        write_splits(folds.model_copy(update={"folds": extended}), folder / SPLITS_FILE)
    images = len(task.test_images()) * len(folds.folds)
    return PseudoLabels(out, out / SPLITS_FILE, roots, total, images - total)

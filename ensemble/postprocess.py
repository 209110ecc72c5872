"""Post-processing of one class's thresholded mask (none, keep the largest component, remove small
components, fill holes), and its choice per class on OOF masks: a step is kept only if the class's
cross-validated Dice rises with it (nnU-Net's rule, scored fold by fold as the weights are)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from configs.schema import PostProcess
from errors import UserError
from evaluate.counts import Counts
from names import PostStep

SIZE_GRID = (0.05, 0.1, 0.25, 0.5)  # remove_small candidates, as shares of the class's median largest component
NONE = PostProcess()


def components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, area of each label) of the 8-connected components; label 0 is the background."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats[:count, cv2.CC_STAT_AREA]


def keep_largest(mask: np.ndarray) -> np.ndarray:
    labels, areas = components(mask)
    if len(areas) <= 2:
        return mask
    return labels == 1 + int(np.argmax(areas[1:]))


def remove_small(mask: np.ndarray, min_pixels: float) -> np.ndarray:
    labels, areas = components(mask)
    keep = areas >= min_pixels
    keep[0] = False
    return keep[labels]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Set every background region (4-connected) that does not touch the image border."""
    count, labels = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    hole = np.ones(count, bool)
    hole[border] = False
    hole[0] = False  # label 0 is the mask itself
    return mask | hole[labels]


def apply_postprocess(mask: np.ndarray, step: PostProcess) -> np.ndarray:
    """The cleaned HxW bool mask; `min_share` is relative to this mask's pixel count, so any grid agrees."""
    if step.step == PostStep.LARGEST:
        return keep_largest(mask)
    if step.step == PostStep.REMOVE_SMALL:
        return remove_small(mask, step.min_share * mask.size)
    if step.step == PostStep.FILL_HOLES:
        return fill_holes(mask)
    return mask


def resolve_postprocess(table: dict[str, PostProcess], classes: tuple[str, ...], source: str) -> list[PostProcess]:
    """One step per class in class order (none where `table` names none); an unknown class is one line."""
    unknown = sorted(set(table) - set(classes))
    if unknown:
        raise UserError(f"{source}: postprocess names {unknown[0]!r}, which is not a class of the task")
    return [table.get(name, NONE) for name in classes]


def candidates(masks: list[np.ndarray]) -> list[PostProcess]:
    """none first (it wins ties), then each step; remove_small sizes from the median largest component."""
    largest = [areas[1:].max() / mask.size for mask in masks if len(areas := components(mask)[1]) > 1]
    steps = [NONE, PostProcess(step=PostStep.LARGEST), PostProcess(step=PostStep.FILL_HOLES)]
    if largest:
        median = float(np.median(largest))
        steps += [PostProcess(step=PostStep.REMOVE_SMALL, min_share=round(g * median, 8)) for g in SIZE_GRID]
    return steps


@dataclass(frozen=True)
class PostChoice:
    step: PostProcess  # chosen on every OOF image; none unless the cross-validated Dice rose
    cv_without: float  # mean OOF Dice without post-processing
    cv_with: float  # mean OOF Dice, each fold's images cleaned by the step chosen on the other folds


def choose_postprocess(masks: list[np.ndarray], truths: list[np.ndarray], folds: np.ndarray) -> PostChoice:
    """The class's step, from its OOF masks (the tuned vote, thresholded) and truths on the same grids."""
    steps = candidates(masks)
    dice = np.array([[float(Counts.of(apply_postprocess(m, s), t).dice()) for m, t in zip(masks, truths)]
                     for s in steps])  # (steps, images)
    held_out = np.zeros(len(masks))
    for fold in np.unique(folds):
        chosen = int(np.argmax(dice[:, folds != fold].mean(1)))
        held_out[folds == fold] = dice[chosen, folds == fold]
    without, with_step = float(dice[0].mean()), float(held_out.mean())
    best = int(np.argmax(dice.mean(1)))
    return PostChoice(steps[best] if with_step > without + 1e-12 else NONE, without, with_step)

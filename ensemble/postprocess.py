"""Post-processing of one class's thresholded mask (none, keep the largest component, remove small
components, fill holes, never empty), and its choice per class on the OOF vote: a step is kept only if the
class's cross-validated Dice rises with it (nnU-Net's rule, scored fold by fold as the weights are)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from configs.schema import PostProcess
from configs.task import MetricSpec
from errors import UserError
from evaluate.counts import DEFAULT_METRIC, Counts, mean_scored
from names import PostStep

SIZE_GRID = (0.05, 0.1, 0.25, 0.5)  # remove_small candidates, as shares of the class's median largest component
PEAK_GRID = (0.3, 0.5, 0.7)  # never_empty candidates: the share of an empty mask's peak probability kept
NONE = PostProcess()


def components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, area of each label) of the 8-connected components; label 0 is the background."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats[:count, cv2.CC_STAT_AREA]


@dataclass(frozen=True)
class Step:
    """One post-processing step: how it cleans an HxW bool mask (given the probabilities it was thresholded
    from), its settings worth trying on a class's OOF masks (given the share of the image of each mask's
    largest component), and how the table names a chosen setting."""

    clean: Callable[[np.ndarray, np.ndarray, PostProcess], np.ndarray]
    candidates: Callable[[list[float]], list[PostProcess]]
    describe: Callable[[PostProcess], str]


def keep_largest(mask: np.ndarray, _: np.ndarray, __: PostProcess) -> np.ndarray:
    """The largest connected component of `mask` (an empty mask stays empty)."""
    labels, areas = components(mask)
    if len(areas) <= 2:
        return mask
    return labels == 1 + int(np.argmax(areas[1:]))


def remove_small(mask: np.ndarray, _: np.ndarray, step: PostProcess) -> np.ndarray:
    """Drop components below `min_share` of this mask's pixel count, so any grid agrees."""
    labels, areas = components(mask)
    keep = areas >= step.min_share * mask.size
    keep[0] = False
    return keep[labels]


def fill_holes(mask: np.ndarray, _: np.ndarray, __: PostProcess) -> np.ndarray:
    """Set every background region (4-connected) that does not touch the image border."""
    count, labels = cv2.connectedComponents(np.logical_not(mask).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    hole = np.ones(count, bool)
    hole[border] = False
    hole[0] = False  # label 0 is the mask itself
    return mask | hole[labels]


def never_empty(mask: np.ndarray, probs: np.ndarray, step: PostProcess) -> np.ndarray:
    """A non-empty mask as it is; an empty one becomes the 8-connected component around the most probable pixel
    of the pixels at `peak_share` of that peak or above (empty still where every probability is 0)."""
    if mask.any():  # the common case: no scan of the probabilities
        return mask
    peak = float(probs.max(initial=0.0))
    if peak <= 0:
        return mask
    _, labels = cv2.connectedComponents((probs >= step.peak_share * peak).astype(np.uint8), connectivity=8)
    return labels == labels.flat[int(np.argmax(probs))]


def small_sizes(largest: list[float]) -> list[PostProcess]:
    """remove_small candidates: size cut-offs below each image's largest component share."""
    if not largest:
        return []
    median = float(np.median(largest))
    return [PostProcess(step=PostStep.REMOVE_SMALL, min_share=round(g * median, 8)) for g in SIZE_GRID]


def peak_shares(_: list[float]) -> list[PostProcess]:
    """never_empty candidates: each share of the peak in PEAK_GRID."""
    return [PostProcess(step=PostStep.NEVER_EMPTY, peak_share=share) for share in PEAK_GRID]


def just(name: PostStep) -> Callable[[list[float]], list[PostProcess]]:
    """A candidate maker offering only the step `name`."""
    return lambda _: [PostProcess(step=name)]


STEPS: dict[PostStep, Step] = {  # in the order candidates are tried: none first (it wins ties)
    PostStep.NONE: Step(lambda mask, _, __: mask, just(PostStep.NONE), lambda _: "none"),
    PostStep.LARGEST: Step(keep_largest, just(PostStep.LARGEST), lambda _: "largest"),
    PostStep.FILL_HOLES: Step(fill_holes, just(PostStep.FILL_HOLES), lambda _: "fill_holes"),
    PostStep.REMOVE_SMALL: Step(remove_small, small_sizes, lambda step: f"remove_small {step.min_share:g}"),
    PostStep.NEVER_EMPTY: Step(never_empty, peak_shares, lambda step: f"never_empty {step.peak_share:g}"),
}
if set(STEPS) != set(PostStep):  # adding a step to the enum without its entry here fails at import
    raise ImportError(f"ensemble.postprocess: no step for {sorted(set(PostStep) - set(STEPS))}")


def apply_postprocess(mask: np.ndarray, probs: np.ndarray, step: PostProcess) -> np.ndarray:
    """The cleaned HxW bool mask (any integer or bool mask is read as bool), thresholded from `probs`."""
    return STEPS[step.step].clean(np.asarray(mask, dtype=bool), probs, step)


def describe(step: PostProcess) -> str:
    """A step as a short label for tables (`remove_small<0.002`)."""
    return STEPS[step.step].describe(step)


def resolve_postprocess(table: dict[str, PostProcess], classes: tuple[str, ...], source: str) -> list[PostProcess]:
    """One step per class in class order (none where `table` names none); an unknown class is one line."""
    unknown = sorted(set(table) - set(classes))
    if unknown:
        raise UserError(f"{source}: postprocess names {unknown[0]!r}, which is not a class of the task")
    return [table.get(name, NONE) for name in classes]


def candidates(masks: list[np.ndarray]) -> list[PostProcess]:
    """Every step's settings for these masks; remove_small sizes from their median largest component."""
    largest = [areas[1:].max() / mask.size for mask in masks if len(areas := components(mask)[1]) > 1]
    return [setting for step in STEPS.values() for setting in step.candidates(largest)]


@dataclass(frozen=True)
class PostChoice:
    """One class's post-processing: the step kept and the cross-validated Dice without and with it."""
    step: PostProcess  # chosen on every OOF image; none unless the cross-validated Dice rose
    cv_without: float  # mean OOF Dice without post-processing
    cv_with: float  # mean OOF Dice, each fold's images cleaned by the step chosen on the other folds


def choose_postprocess(votes: list[np.ndarray], threshold: float, truths: list[np.ndarray], folds: np.ndarray,
                       metric: MetricSpec = DEFAULT_METRIC,
                       ignores: list[np.ndarray | None] | None = None) -> PostChoice:
    """The class's step, from its OOF vote (the tuned vote's probabilities, masked above `threshold`) and truths
    on the same grids. The cross-validated Dice scores each fold with the step chosen on the other folds, whose
    masks alone also give the candidate sizes."""
    masks = [vote > threshold for vote in votes]
    memo: dict[tuple[str, int], float] = {}

    def dice(step: PostProcess, image: int) -> float:
        key = (step.model_dump_json(), image)  # every parameter of the step, whichever it has
        if key not in memo:
            ignore = None if ignores is None else ignores[image]
            cleaned = apply_postprocess(masks[image], votes[image], step)
            memo[key] = float(Counts.of(cleaned, truths[image], ignore).dice(metric))
        return memo[key]

    def best(rows: np.ndarray) -> tuple[PostProcess, float]:
        steps = candidates([masks[i] for i in rows])
        means = np.nan_to_num([mean_scored(np.array([dice(step, i) for i in rows])) for step in steps], nan=-1.0)
        return steps[int(np.argmax(means))], float(max(means))

    held_out = np.zeros(len(masks))
    for fold in np.unique(folds):
        chosen, _ = best(np.flatnonzero(folds != fold))
        held_out[folds == fold] = [dice(chosen, i) for i in np.flatnonzero(folds == fold)]
    everything = np.arange(len(masks))
    without = float(mean_scored(np.array([dice(NONE, i) for i in everything])))
    with_step = float(mean_scored(held_out))
    step, _ = best(everything)
    return PostChoice(step if with_step > without + 1e-12 else NONE, without, with_step)

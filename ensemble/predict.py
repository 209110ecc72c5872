"""One process's ensemble: stream test images (all, or one shard) through every member, soft-vote,
threshold, write the CSV and, where the task asks for them, the PNG masks."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from atomic import atomic_folder, atomic_path, check_target, claimable_folder, refuse_input_as_output
from configs.schema import EnsembleConfig, PostProcess
from data import get_task
from data.images import write_image_atomic
from data.task import Task
from ensemble.members import Member, ProbabilityCache, ensemble_inputs, load_members
from ensemble.postprocess import apply_postprocess, resolve_postprocess
from ensemble.shards import Shard, write_sidecar
from ensemble.thresholds import resolve_thresholds
from ensemble.vote import GridVotes, class_probabilities
from ensemble.weights import read_weights
from errors import UserError
from models.device import amp_dtype
from submit.submission import SubmissionWriter, encode_mask, read_submission
from submit.validate import test_image_sizes, validate_rows


def decoded_batches(task: Task, cases: list[str], batch_size: int) -> Iterator[list[tuple[str, np.ndarray]]]:
    """Batches of (case, image); a background thread decodes the next batch while this one is used."""
    batches = [cases[i:i + batch_size] for i in range(0, len(cases), batch_size)]

    def decode(batch: list[str]) -> list[tuple[str, np.ndarray]]:
        return [(case, task.read_image(case)) for case in batch]

    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(decode, batches[0]) if batches else None
        for index in range(len(batches)):
            current = upcoming.result()
            if index + 1 < len(batches):
                upcoming = pool.submit(decode, batches[index + 1])
            yield current


def batch_votes(members: list[Member], cache: ProbabilityCache, images: list[np.ndarray]) -> list[GridVotes]:
    """Every member's probabilities for a batch of images, summed per image and grid as they arrive."""
    votes = [GridVotes() for _ in images]
    for member in members:
        for vote, probs in zip(votes, cache.predict_batch(member, images)):
            vote.add(probs, member.weight)
    return votes


def masks_folder(config: EnsembleConfig, task: Task) -> Path | None:
    """`output.masks_dir`, or where the task writes masks (`submission.masks`, single-class) `<csv stem>_masks`
    beside the CSV."""
    if config.output.masks_dir is None and task.spec.submission.masks and len(task.classes) == 1:
        return config.output.csv.with_name(config.output.csv.stem + "_masks")
    return config.output.masks_dir


def check_outputs(config: EnsembleConfig, task: Task) -> Path | None:
    """Refuse, before any work, outputs that may not be written; returns the masks folder."""
    check_target(config.output.csv)
    inputs = ensemble_inputs(config)
    images = [task.path(case) for case in task.test_images()]
    refuse_input_as_output(config.output.csv, [*inputs, *images], "output.csv")
    masks_dir = masks_folder(config, task)
    if masks_dir is not None:  # PNG masks among the test images would be read as test images next time
        refuse_input_as_output(masks_dir, [*inputs, task.test_folder()], "output.masks_dir")
        claimable_folder(masks_dir, "ensemble", "output.masks_dir", beside=True)
    return masks_dir


def write_mask(folder: Path, image_name: str, mask: np.ndarray) -> None:
    """One image's single-class mask as `<stem>.png` (0 / 255) in `folder`."""
    write_image_atomic(folder / f"{Path(image_name).stem}.png", mask.astype(np.uint8) * 255)


@dataclass
class Plan:
    """What the ensemble does to each image: its members (with their weights), the probability cache, and
    per class the threshold and the post-processing."""

    members: list[Member]
    cache: ProbabilityCache
    thresholds: np.ndarray
    steps: list[PostProcess]
    exclusive: bool = False  # each pixel holds at most the most probable class above its threshold

    def votes(self, images: list[np.ndarray]) -> list[GridVotes]:
        """Every member's weighted probabilities of a batch, summed per image and grid."""
        return batch_votes(self.members, self.cache, images)

    def masks(self, vote: GridVotes, shape: tuple[int, int]) -> list[np.ndarray]:
        """HxW bool masks in class order, thresholded and post-processed one class plane at a time."""
        return [mask for _, mask in self.planes(vote, shape)]

    def planes(self, vote: GridVotes, shape: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(HxW probabilities, its thresholded and post-processed mask) per class, one class plane at a time."""
        grids = vote.means()
        if self.exclusive:
            yield from self.exclusive_planes(grids, shape)
            return
        for channel, (threshold, step) in enumerate(zip(self.thresholds, self.steps)):
            probs = class_probabilities(grids, shape, channel)
            yield probs, apply_postprocess(probs > threshold, probs, step)

    def exclusive_planes(self, grids: dict, shape: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every class at once: a pixel goes to its most probable class among those above their thresholds."""
        probs = np.stack([class_probabilities(grids, shape, c) for c in range(len(self.thresholds))])
        above = probs > self.thresholds[:, None, None]
        winner = np.where(above, probs, -1.0).argmax(0)
        unclaimed_top = np.where(above.any(0), -1, probs.argmax(0))  # the most probable class where none is above
        for channel, step in enumerate(self.steps):
            free = np.where(unclaimed_top == channel, probs[channel], 0)  # what never_empty may take, overlap-free
            yield probs[channel], apply_postprocess(above[channel] & (winner == channel), free, step)


def load_plan(config: EnsembleConfig, task: Task, device: torch.device) -> Plan:
    """The members, weights, thresholds and post-processing an ensemble config asks for."""
    entries = config.member_entries()
    if config.weights is None:
        class_weights, thresholds = None, resolve_thresholds(config.thresholds, task.classes)
        steps = resolve_postprocess(config.postprocess, task.classes, "the ensemble config")
    else:
        class_weights, thresholds, table = read_weights(config.weights, [e.path for e in entries], task.classes)
        steps = resolve_postprocess(table, task.classes, str(config.weights))
    precision = "member" if config.amp is None else amp_dtype(device, config.amp, config.amp_dtype, key="amp_dtype")
    members = load_members(entries, device, task.classes, class_weights, precision)
    return Plan(members, ProbabilityCache(config.cache_dir), thresholds, steps, task.spec.exclusive)


def predict_submission(config: EnsembleConfig, device: torch.device, quiet: bool = False, shard: Shard | None = None,
                       with_masks: bool = True) -> Path:
    """Write the submission CSV (and PNG masks for single-class tasks unless `with_masks` is off); return
    the CSV path. With `shard`, only that shard's images, and a sidecar for `merge`."""
    task = get_task(config.task, config.data.root)
    masks_dir = check_outputs(config, task) if with_masks else None
    sizes, spec = test_image_sizes(task), task.spec.submission
    cases = task.test_images() if shard is None else shard.take(task.test_images())
    plan = load_plan(config, task, device)
    out = Path(config.output.csv)
    with atomic_path(out) as tmp, contextlib.ExitStack() as stack:  # the masks folder lands just before the CSV
        masks_tmp = None if masks_dir is None else stack.enter_context(atomic_folder(masks_dir, "ensemble"))
        with open(tmp, "w", newline="") as handle, tqdm(total=len(cases), desc="ensemble", unit="img",
                                                         disable=quiet) as bar:
            writer = SubmissionWriter(handle, task.classes, spec)
            for batch in decoded_batches(task, cases, config.batch_size):
                votes = plan.votes([image for _, image in batch])
                for (case, image), vote in zip(batch, votes):
                    name = task.image_key(case)
                    masks = plan.masks(vote, image.shape[:2])
                    writer.write_rles(name, [encode_mask(m, spec) for m in masks])
                    if masks_tmp is not None and len(masks) == 1:
                        write_mask(masks_tmp, name, masks[0])
                bar.update(len(batch))
        try:
            names = {task.image_key(case) for case in cases}
            validate_rows(read_submission(tmp, spec), task.classes, {n: s for n, s in sizes.items() if n in names},
                          str(out), spec)
        except UserError as err:
            raise UserError(f"internal error, the written CSV failed validation: {err}") from None
    if shard is not None:
        write_sidecar(out, shard, task.name, task.classes, sizes, spec)
    return out

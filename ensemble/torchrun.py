"""The ensemble under `torchrun`: every process predicts shard RANK/WORLD_SIZE on its own device into a
hidden partial CSV; rank 0 merges them (with `merge`'s checks) into the one CSV, and writes the masks
folder from it. A failed rank fails the whole command: no CSV, and every rank removes its partial."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from atomic import atomic_folder, atomic_path
from configs.schema import EnsembleConfig
from data import get_task
from data.task import Task
from ensemble.predict import check_outputs, predict_submission, write_mask
from ensemble.shards import Shard, merge_shards, sidecar_path
from errors import UserError
from models.distributed import Processes
from rle import decode
from submit.submission import read_submission
from submit.validate import test_image_sizes


def partial_csv(out: Path, shard: Shard) -> Path:
    """Where one torchrun rank writes its shard of the CSV before rank 0 merges them."""
    return out.with_name(f".{out.name}.rank{shard.index}of{shard.count}.csv")


def run_under_torchrun(config: EnsembleConfig, processes: Processes, device: torch.device, quiet: bool) -> Path:
    """Predict this rank's shard, then (rank 0) merge every rank's partial into `output.csv`."""
    task = get_task(config.task, config.data.root)
    masks_dir = check_outputs(config, task)  # every rank refuses a bad target before any work
    out = Path(config.output.csv)
    shard = Shard(processes.rank, processes.world_size)
    partials = [partial_csv(out, Shard(rank, shard.count)) for rank in range(shard.count)]
    own = config.model_copy(update={"output": config.output.model_copy(update={"csv": partials[shard.index]})})
    try:
        failure: BaseException | None = None
        try:
            predict_submission(own, processes.device(device), quiet or not processes.is_main, shard, with_masks=False)
        except BaseException as err:  # the others must still hear about it
            failure = err
        failed = processes.failed_ranks(failure is not None)
        if failure is not None:
            raise failure
        if failed:
            raise UserError(f"torchrun rank {', '.join(map(str, failed))} failed (its own line says why): "
                            f"no {out} written")
        merge_failure: BaseException | None = None
        if processes.is_main:
            try:
                merge_with_masks(partials, out, masks_dir, task)
            except BaseException as err:  # the other ranks wait for this outcome, not for torchrun's timeout
                merge_failure = err
        merge_failed = processes.failed_ranks(merge_failure is not None)  # the partials stay until rank 0 is done
        if merge_failure is not None:
            raise merge_failure
        if merge_failed:
            raise UserError(f"torchrun rank 0 failed while merging the partials (its own line says why): no {out}")
    finally:
        for path in (partials[shard.index], sidecar_path(partials[shard.index])):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    return out


def merge_with_masks(partials: list[Path], out: Path, masks_dir: Path | None, task: Task) -> None:
    """The merged CSV and, when there is a masks folder, its PNGs decoded from it; the folder lands just
    before the CSV, as in one process."""
    with atomic_path(out) as tmp, contextlib.ExitStack() as stack:
        merge_shards([str(p) for p in partials], tmp)
        if masks_dir is not None:
            folder = stack.enter_context(atomic_folder(masks_dir, "ensemble"))
            sizes, spec = test_image_sizes(task), task.spec.submission
            rles = {row.image_name: row.rle for row in read_submission(tmp, spec)}  # single-class: a row per image
            for name, size in sizes.items():  # (or none, where the task leaves empty masks out)
                write_mask(folder, name, decode(rles.get(name, ""), size, spec.order, spec.start))

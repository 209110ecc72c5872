"""One fold's lifecycle, the same for every family: the task, the split, the run folder, the data hash and
the resume checks (`open_fold`); the lock and the baseline `state.json` while training writes the folder
(`writing`); OOF probabilities, the final `state.json` and curves (`finish_fold`)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from configs.files import Fold, RunState
from configs.schema import MemberConfig
from data import get_task
from data.preprocess import build_preprocess
from data.resample import shrink_probs
from data.splits import read_splits
from data.task import Task
from errors import UserError
from folds.resume import check_resume
from folds.validation import ValidationSet
from models.predictors import Predictor
from models.run_folder import CURVES_FILE, LOG_FILE, MODEL_FILE, STATE_FILE, RunFolder
from plots import plot_curves


def data_hash(cases: list[str], task: Task) -> str:
    """Identifies the fold's data: case names and file sizes."""
    digest = hashlib.sha256()
    for case in cases:
        path = task.path(case)
        if not path.is_file():
            raise UserError(f"the splits name {case}, which is not a file under {task.root}")
        digest.update(f"{case}:{path.stat().st_size};".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class FoldRun:
    """Everything a trainer needs to know about the fold it trains."""

    config: MemberConfig
    fold: int
    task: Task
    split: Fold
    run: RunFolder
    data_hash: str
    world_size: int
    resuming: bool
    precision: str

    @property
    def label(self) -> str:
        """'<run> fold <k>', for messages."""
        return f"{self.run.path.parent.name} fold {self.fold}"

    def state(self, **fields) -> RunState:
        """`state.json` of this fold with the trainer's progress fields."""
        return RunState(config=self.config, task=self.task.name, classes=list(self.task.classes),
                        val_cases=self.split.val, fold=self.fold, data_hash=self.data_hash, world_size=self.world_size,
                        precision=self.precision, **fields)


def open_fold(config: MemberConfig, fold: int, resume: bool, world_size: int = 1, precision: str = "") -> FoldRun:
    """Check the fold's inputs and, on `--resume`, that nothing frozen changed (`precision`, the device type
    and autocast dtype the trainer resolved, included); before any work."""
    run = RunFolder(Path(config.run.dir) / f"fold{fold}")
    if not resume and (run.path / MODEL_FILE).exists():
        raise UserError(f"{run.path} already holds a trained model: pass --resume, or set run.dir elsewhere")
    task = get_task(config.task, config.data.root, build_preprocess(config.data.preprocess), config.data.extra_roots)
    splits = read_splits(config.data.splits)
    if splits.task != task.name:
        raise UserError(f"{config.data.splits} holds {splits.task} folds, but the config's task is {task.name}")
    split = splits.fold(fold)
    leaked = sorted(set(split.train) & set(split.val))
    if leaked:
        raise UserError(f"{config.data.splits}: fold {fold} has {leaked[0]!r} in both train and val "
                        f"({len(leaked)} such cases)")
    task.check_cases(split.train + split.val, str(config.data.splits))
    task.cases_by_name(split.val)  # OOF files are named by image name: a fold's validation names are unique
    fingerprint = data_hash(split.train + split.val, task)
    resuming = resume and (run.path / STATE_FILE).is_file()
    if resuming:
        check_resume(run, run.state(), config, fingerprint, world_size, precision)
    return FoldRun(config, fold, task, split, run, fingerprint, world_size, resuming, precision)


@contextmanager
def writing(fold_run: FoldRun, baseline: RunState | None, is_main: bool = True) -> Iterator[None]:
    """The main process holds the run folder's lock while the block trains into it (a second writer is
    refused in one line); a fresh run first writes its `baseline` state, what later resumes are checked
    against."""
    if is_main:
        fold_run.run.lock()
        if baseline is not None:
            fold_run.run.write_state(baseline)
    try:
        yield
    finally:
        if is_main:
            fold_run.run.unlock()


def write_oof(fold_run: FoldRun, val: ValidationSet, predictor: Predictor, quiet: bool) -> None:
    """Probabilities of the kept weights (train.checkpoint) on every case of `val`, on the member's grid shrunk to
    at most `train.oof_size` a side."""
    batch_size, size = fold_run.config.train.batch_size, fold_run.config.train.oof_size
    for index, probs in tqdm(val.grid_probabilities(predictor, batch_size), total=len(val.cases), desc="oof",
                             unit="img", disable=quiet):
        fold_run.run.write_oof(Path(val.cases[index]).name, shrink_probs(probs, size))


def finish_fold(fold_run: FoldRun, val: ValidationSet, predictor: Predictor, quiet: bool, state: RunState,
                barrier: Callable[[], None] = lambda: None, is_main: bool = True) -> None:
    """OOF probabilities of this process's validation share, then (main process, once every share is
    written) the final `state.json` and the curves."""
    write_oof(fold_run, val, predictor, quiet)
    barrier()
    if is_main:
        fold_run.run.write_state(state.model_copy(update={"oof_done": True}))
        if (fold_run.run.path / LOG_FILE).is_file():
            plot_curves(fold_run.run.path / LOG_FILE, fold_run.run.path / CURVES_FILE, fold_run.label)


def per_class_list(per_class: np.ndarray | None) -> list[float] | None:
    """Per-class Dice rounded for state.json (None stays None)."""
    return None if per_class is None else [round(float(d), 6) for d in per_class]

"""A member's run folder `runs/<member>/fold<k>/`: written by training, read by the ensemble;
every file written atomically."""
from __future__ import annotations

import csv
import fcntl
import glob
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

import atomic
from configs.files import RunState, read_model
from configs.schema import MemberConfig
from data.resample import bounded_grid
from errors import UserError
from models.predictors import member_grid

MODEL_FILE, STATE_FILE, RESUME_FILE, LOG_FILE, CURVES_FILE, OOF_DIR, LOCK_FILE = (
    "model.safetensors", "state.json", "optimizer.pt", "log.csv", "curves.png", "oof", ".lock")


def run_label(pattern: str) -> str:
    """A short name for a run folder or a glob of folds: `runs/unetpp/fold*` -> `unetpp`."""
    path = Path(pattern)
    return path.parent.name if any(c in path.name for c in "*?[") else path.name


def runs_matching(pattern: str, what: str, need_oof: bool = False) -> list[Path]:
    """The run folders (with a state.json) a folder or glob names, sorted; none is one line naming `what`.
    With `need_oof`, a run whose OOF probabilities were never completed (train-fold stopped before its end)
    is refused too: its OOF would cover only part of its fold."""
    matches = sorted(Path(p) for p in glob.glob(pattern) if (Path(p) / STATE_FILE).is_file())
    if not matches:
        raise UserError(f"{what} {pattern!r} matches no run folder with a {STATE_FILE}")
    if need_oof:
        unfinished = next((path for path in matches if not RunFolder(path).state().oof_done), None)
        if unfinished is not None:
            raise UserError(f"{what} {pattern!r}: {unfinished} has no complete OOF (its train-fold did not finish): "
                            f"finish it with train-fold --resume")
    return matches


def read_oof(path: Path, mmap: bool = False) -> np.ndarray:
    """One OOF file: a Cxhxw float array (memory-mapped with `mmap`); anything else is one line naming it."""
    try:
        probs = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"cannot read OOF file {path}: {str(err).splitlines()[0][:120]}") from None
    if not isinstance(probs, np.ndarray) or probs.dtype.kind != "f" or probs.ndim != 3 or 0 in probs.shape:
        raise UserError(f"OOF file {path} is not a CxHxW float array")
    return probs


def check_oof(path: Path, channels: int) -> None:
    """`path` holds what train-fold writes: `channels` planes of finite probabilities in [0, 1]; else one line."""
    probs = read_oof(path, mmap=True)
    if probs.shape[0] != channels:
        raise UserError(f"OOF file {path} holds {probs.shape[0]} channels; its run has {channels} classes")
    values = np.asarray(probs, np.float32)
    if not np.isfinite(values).all():
        raise UserError(f"OOF file {path} holds NaN or infinite values")
    if values.min() < 0 or values.max() > 1:
        raise UserError(f"OOF file {path} holds values outside [0, 1]: not sigmoid probabilities")


def check_oof_grid(path: Path, found: tuple[int, ...], config: MemberConfig, image_shape: tuple[int, int]) -> None:
    """An OOF file of an image of `image_shape` is on the grid its member predicts that image on, shrunk to
    `train.oof_size` (what train-fold writes); another shape (another image's OOF, another member's) is one line."""
    expected = bounded_grid(member_grid(config, image_shape), config.train.oof_size)
    if tuple(found) != expected:
        raise UserError(f"OOF file {path} is {found[0]}x{found[1]}; its member predicts this {image_shape[0]}x"
                        f"{image_shape[1]} image on a {expected[0]}x{expected[1]} grid: another image's or another "
                        f"member's OOF")


class RunFolder:
    """Reads and writes the artefacts of one member on one fold."""

    def __init__(self, path: Path | str):
        """The run folder at `path` (it need not exist yet)."""
        self.path = Path(path)
        self._lock: int | None = None

    def lock(self) -> None:
        """Hold an OS lock on the folder until this process exits (never stale: the kernel drops it with the
        process); a second writer is refused in one line."""
        atomic.make_folders(self.path)
        if not (self.path / LOCK_FILE).exists():
            atomic.made_file(self.path / LOCK_FILE)
        descriptor = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise UserError(f"{self.path} is being written by another train-fold process: wait for it, or set "
                            f"run.dir elsewhere") from None
        self._lock = descriptor

    def unlock(self) -> None:
        """Release the folder's lock."""
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def save_weights(self, model: nn.Module) -> None:
        """Write the model's weights as safetensors, atomically."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        with atomic.atomic_path(self.path / MODEL_FILE) as tmp:
            save_file(tensors, str(tmp))

    def load_weights(self, model: nn.Module) -> None:
        """Load the folder's safetensors weights into `model`; weights of another architecture are one line."""
        path = self.path / MODEL_FILE
        if not path.is_file():
            raise UserError(f"no {MODEL_FILE} in {self.path}")
        try:
            tensors = load_file(str(path))
        except Exception as err:  # noqa: BLE001 - safetensors raises its own error type
            raise UserError(f"cannot read {path}: not a safetensors file or damaged ({type(err).__name__})") from None
        try:
            model.load_state_dict(tensors)
        except RuntimeError:
            raise UserError(f"{path} is a checkpoint for another architecture than its state.json names") from None

    def save_resume(self, state: dict[str, Any]) -> None:
        """Everything `--resume` needs, in one file so it is never half-updated."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic.write_bytes(self.path / RESUME_FILE, buffer.getvalue())
        atomic.keep(self.path)  # resumable from here on: a failure later keeps the folder for --resume

    def load_resume(self) -> dict[str, Any] | None:
        """What `--resume` continues from (tensors only, `weights_only`), or None when there is none."""
        path = self.path / RESUME_FILE
        if not path.is_file():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - a damaged file is reported, never half-loaded
            raise UserError(f"cannot resume from {path}: {type(err).__name__}") from None

    def write_state(self, state: RunState) -> None:
        """Write `state.json`, atomically."""
        atomic.write_text(self.path / STATE_FILE, state.model_dump_json(indent=1))

    def state(self) -> RunState:
        """`state.json`, validated; one line naming the folder when missing or damaged."""
        if not (self.path / STATE_FILE).is_file():
            raise UserError(f"no {STATE_FILE} in {self.path}")
        return read_model(self.path / STATE_FILE, RunState, "run state")

    def check_classes(self, state: RunState, classes: tuple[str, ...]) -> None:
        """Refuse a run trained for other classes (or another order) than `classes`."""
        if tuple(state.classes) != tuple(classes):
            raise UserError(f"{self.path} was trained for other classes than the task's ({len(state.classes)} "
                            f"against {len(classes)})")

    def oof_files(self, state: RunState) -> dict[str, Path]:
        """Image name -> OOF file for every validation case of the fold, each checked (`check_oof`); a run whose
        OOF does not cover its fold is one line naming the run and the first missing case."""
        files = {}
        for case in state.val_cases:
            path = self.oof_path(Path(case).name)
            if not path.is_file():
                raise UserError(f"{self.path}: no OOF file for its validation case {case} ({OOF_DIR}/{path.name}): "
                                f"its OOF is incomplete; restore the folder or train the fold again")
            check_oof(path, len(state.classes))
            files[Path(case).name] = path
        return files

    def write_log(self, rows: list[dict[str, Any]]) -> None:
        """Write `log.csv`, a row per epoch, atomically."""
        with atomic.atomic_path(self.path / LOG_FILE) as tmp, open(tmp, "w", newline="") as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)

    def oof_path(self, image_name: str) -> Path:
        """The OOF file of a validation image."""
        return self.path / OOF_DIR / f"{image_name}.npy"

    def write_oof(self, image_name: str, probs: np.ndarray) -> None:
        """Float16 Cxhxw sigmoid probabilities of one validation image (on a grid; users resample them)."""
        atomic.save_array(self.oof_path(image_name), probs.astype(np.float16))

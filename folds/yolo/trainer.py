"""train-fold for YOLOv8-seg members: the fold exported once as an ultralytics segment dataset, trained by
ultralytics' own trainer offline, then the same run-folder artefacts as every member (safetensors
weights + model YAML, state.json, log.csv, OOF from the member's predictor)."""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import yaml

import atomic
from configs.files import RunState
from configs.schema import MemberConfig
from errors import UserError
from folds.fold_run import FoldRun, finish_fold, open_fold, per_class_list, writing
from folds.validation import ValidationSet
from folds.yolo.arguments import ULTRALYTICS_DIR, check_trainer_args, train_arguments
from folds.yolo.export import export_dataset
from models import build_model
from models.device import pick_device
from models.predictors import build_predictor
from models.pretrained import update_with_file
from models.yolo import offline_ultralytics, scale_of, set_box_prior
from names import Checkpoint

MODEL_YAML = "model.yaml"


@contextlib.contextmanager
def no_font_download() -> Iterator[None]:
    """Ultralytics checks for Arial.ttf when it reads a dataset, with a HEAD request even offline."""
    import ultralytics.data.utils as data_utils

    original = data_utils.check_font
    data_utils.check_font = lambda *args, **kwargs: None
    try:
        yield
    finally:
        data_utils.check_font = original


def change_new_network(trainer, change: Callable[[torch.nn.Module], object]) -> None:
    """Apply `change` to ultralytics' freshly built network and to its EMA copy."""
    for network in (trainer.model, trainer.ema.ema):
        change(network)


def initial_change(config: MemberConfig, num_classes: int) -> Callable[[torch.nn.Module], object] | None:
    """How a new run's network should start, unlike ultralytics' own: the user's weights, or smaller boxes."""
    if config.model.weights is not None:  # read as for any member
        state = build_model(config.model, num_classes).state_dict()
        return lambda network: network.load_state_dict(state)
    if config.model.box_prior is not None:
        return lambda network: set_box_prior(network, config.model.box_prior)
    return None


def ultralytics_log(results_csv: Path) -> list[dict]:
    """Per epoch: our loss (the sum of ultralytics' training losses), lr, and its validation metrics."""
    if not results_csv.is_file():
        return []
    rows = []
    with open(results_csv, newline="") as handle:
        for raw in csv.DictReader(handle):
            raw = {k.strip(): v for k, v in raw.items()}
            losses = [float(v) for k, v in raw.items() if k.startswith("train/")]
            rows.append({"epoch": int(float(raw["epoch"])), "loss": round(sum(losses), 6), "val_dice": "",
                         "lr": float(raw.get("lr/pg0", 0) or 0),
                         "mask_map50": float(raw.get("metrics/mAP50(M)", 0) or 0),
                         "mask_map50_95": float(raw.get("metrics/mAP50-95(M)", 0) or 0)})
    return rows


def export_key(fold_run: FoldRun) -> str:
    """What the exported images depend on: the fold's files and the member's preprocessing."""
    steps = json.dumps([step.model_dump(mode="json") for step in fold_run.config.data.preprocess])
    return hashlib.sha256(f"{fold_run.data_hash};{steps}".encode()).hexdigest()[:16]


def train_yolo_fold(config: MemberConfig, fold: int, resume: bool, quiet: bool) -> RunState:
    """Train one fold through ultralytics; return its final state."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("yolov8-seg members train under ultralytics' own trainer: run train-fold without torchrun")
    fold_run = open_fold(config, fold, resume)
    run, task, split = fold_run.run, fold_run.task, fold_run.split
    last = run.path / ULTRALYTICS_DIR / "weights" / "last.pt"
    resume = fold_run.resuming and last.is_file()  # --resume without a checkpoint starts afresh, as in our engine
    device = pick_device(config.train.device, key="train.device")
    offline_ultralytics(run.path / ULTRALYTICS_DIR / "settings")
    check_trainer_args(config.model.trainer_args)
    arguments = train_arguments(config, run, device, quiet)  # refusals before any work
    arguments["data"] = str(export_dataset(task, split, Path(config.run.dir) / "yolo_data" /
                                           f"fold{fold}-{export_key(fold_run)}"))
    with writing(fold_run, None if resume else fold_run.state(trainer="ultralytics")):
        return train_locked(config, fold_run, resume, arguments, device, quiet)


def train_locked(config: MemberConfig, fold_run: FoldRun, resume: bool, arguments: dict, device: torch.device,
                 quiet: bool) -> RunState:
    """Ultralytics' training, then the artefacts every member has."""
    from ultralytics import YOLO

    run, task, split = fold_run.run, fold_run.task, fold_run.split
    last = run.path / ULTRALYTICS_DIR / "weights" / "last.pt"
    record = BestRecord(run.path / ULTRALYTICS_DIR / BEST_FILE)
    with no_font_download():
        if resume:
            check_recorded_hash(last)  # last.pt is a pickle: loaded only if it is the file this project saw written
            yolo = YOLO(str(last), task="segment")
            first_on_model_save(yolo, record)
            yolo.train(resume=True, **{k: arguments[k] for k in ("data", "device", "workers", "verbose")})
        else:
            yolo = YOLO(f"yolov8{scale_of(config.model.params)}-seg.yaml", task="segment")
            yolo.add_callback("on_train_epoch_end", lambda trainer: atomic.keep(run.path))  # resumable from here
            first_on_model_save(yolo, record)
            change = initial_change(config, len(task.classes))
            if change is not None:
                yolo.add_callback("on_pretrain_routine_end", lambda trainer: change_new_network(trainer, change))
            yolo.train(**arguments)
    best_epoch = record.epoch()
    kept_epoch, network = kept_network(config, yolo, best_epoch)
    model = build_model(config.model, len(task.classes), with_pretrained=False)
    model.load_state_dict(network.float().state_dict())
    run.save_weights(model)
    atomic.write_text(run.path / MODEL_YAML, yaml.safe_dump(model.yaml, sort_keys=False))
    predictor = build_predictor(config, model.to(device), device)
    val = ValidationSet(task, split.val, predictor, quiet)
    sums, scored = val.dice_sums(predictor, config.train.batch_size, len(task.classes))
    per_class = sums / np.maximum(scored, 1)
    dice = float(per_class.mean())
    rows = ultralytics_log(run.path / ULTRALYTICS_DIR / "results.csv")
    for row in rows:  # the Dice of the kept weights, in the row of the epoch they come from
        if row["epoch"] == kept_epoch:
            row["val_dice"] = round(dice, 6)
    if rows:
        run.write_log(rows)
    state = fold_run.state(epoch=config.train.epochs, best_epoch=best_epoch, kept_epoch=kept_epoch, kept_dice=dice,
                           best_dice=dice if kept_epoch == best_epoch else -1.0,
                           last_val_dice_per_class=per_class_list(per_class), trainer="ultralytics")
    finish_fold(fold_run, val, predictor, quiet, state)
    return state


BEST_FILE = "best_epoch.json"  # beside ultralytics' files: the epoch its best.pt holds, by its own fitness


def first_on_model_save(yolo, record: BestRecord) -> None:
    """`record` runs first whenever ultralytics has saved its checkpoints, before any other callback."""
    yolo.callbacks["on_model_save"].insert(0, record)


def hash_file(path: Path) -> Path:
    """Where the SHA-256 of an ultralytics checkpoint is kept: `<file>.sha256` beside it."""
    return path.with_name(path.name + ".sha256")


def check_recorded_hash(checkpoint: Path) -> None:
    """Refuse, in one line, a checkpoint whose SHA-256 is not the one recorded when this project saw ultralytics
    write it: a run folder is an input, and unpickling a crafted file would run its code."""
    recorded = hash_file(checkpoint)
    actual = update_with_file(hashlib.sha256(), checkpoint).hexdigest()
    if not recorded.is_file() or recorded.read_text().strip() != actual:
        raise UserError(f"{checkpoint} is not the checkpoint this run wrote (no matching {recorded.name}): it is a "
                        f"pickle, so it is not loaded; train the fold again without --resume")


class BestRecord:
    """An `on_model_save` callback: the SHA-256 of the last.pt ultralytics just wrote (what `--resume` checks
    before unpickling it) and, when it writes best.pt (its fitness, box + mask mAP50-95, at a new best), the
    epoch and fitness, kept on disk so a resumed run still knows them."""

    def __init__(self, path: Path):
        """Record the epoch of best.pt into `path` (best_epoch.json); last.pt's SHA-256 goes beside last.pt."""
        self.path = path

    def __call__(self, trainer) -> None:
        """After each ultralytics epoch: record the epoch it keeps as best, and the SHA-256 of its last.pt."""
        if trainer.last.is_file():
            atomic.write_text(hash_file(trainer.last), update_with_file(hashlib.sha256(), trainer.last).hexdigest())
        if trainer.best_fitness == trainer.fitness:  # ultralytics' own test for writing best.pt (None: not validated)
            fitness = None if trainer.fitness is None else float(trainer.fitness)
            atomic.write_text(self.path, json.dumps({"epoch": trainer.epoch + 1, "fitness": fitness}))

    def epoch(self) -> int:
        """The epoch ultralytics' best.pt holds (0: it wrote none)."""
        return int(json.loads(self.path.read_text())["epoch"]) if self.path.is_file() else 0


def kept_network(config: MemberConfig, yolo, best_epoch: int) -> tuple[int, torch.nn.Module]:
    """(epoch, network) that `train.checkpoint` keeps: ultralytics' last.pt, or the best.pt it reloaded after
    training (its last.pt when it wrote no best)."""
    from ultralytics.nn.tasks import load_checkpoint

    if config.train.checkpoint == Checkpoint.BEST and best_epoch:
        return best_epoch, yolo.model
    network, _ = load_checkpoint(yolo.trainer.last)  # written by this run a moment ago
    return config.train.epochs, network

"""train-fold for YOLOv8-seg members: the fold exported once as an ultralytics segment dataset, trained by
ultralytics' own trainer offline, then the same run-folder artefacts as every member (safetensors
weights + model YAML, state.json, log.csv, OOF from the member's predictor)."""
from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

import atomic
from configs.schema import MemberConfig
from data import get_task
from data.images import write_image_atomic
from data.resample import shrink_probs
from data.task import Task
from errors import UserError
from folds.engine import ValidationSet, data_hash
from folds.split import Fold, read_splits
from models import build_model
from models.device import pick_device
from models.predictors import build_predictor
from models.run_folder import CURVES_FILE, LOG_FILE, RunFolder
from models.yolo import offline_ultralytics, set_box_prior
from names import OptimizerName, SchedulerName
from plots import plot_curves

ULTRALYTICS_DIR = "ultralytics"  # inside the run folder: its checkpoints, results.csv and settings
MODEL_YAML = "model.yaml"
OPTIMIZERS = {OptimizerName.ADAM: "Adam", OptimizerName.ADAMW: "AdamW", OptimizerName.SGD: "SGD"}


def mask_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """One polygon per connected component (outer boundary), as (n, 2) x, y pixel coordinates."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c[:, 0, :] for c in contours if len(c) >= 3]


def label_lines(masks: np.ndarray) -> list[str]:
    """Ultralytics segment labels: `class x1 y1 x2 y2 ...`, coordinates normalised to [0, 1]."""
    height, width = masks.shape[1:]
    lines = []
    for index, mask in enumerate(masks):
        for polygon in mask_polygons(mask):
            points = (polygon + 0.5) / np.array([width, height])
            lines.append(f"{index} " + " ".join(f"{v:.6f}" for v in points.ravel()))
    return lines


def export_dataset(task: Task, split: Fold, folder: Path) -> Path:
    """Write images/{train,val}, labels/{train,val} and data.yaml under `folder` once; return data.yaml."""
    data_yaml, done = folder / "data.yaml", folder / ".complete"
    if done.is_file():
        return data_yaml
    for part, cases in (("train", split.train), ("val", split.val)):
        stems = [Path(case).stem for case in cases]
        if len(set(stems)) != len(stems):
            raise UserError(f"yolov8-seg needs unique image names per fold; {part} repeats one")
        for case, stem in zip(cases, stems):
            write_image_atomic(folder / "images" / part / f"{stem}.png", task.read_image(case))
            atomic.write_text(folder / "labels" / part / f"{stem}.txt", "\n".join(label_lines(task.read_mask(case))))
    atomic.write_text(data_yaml, yaml.safe_dump({"path": str(folder.resolve()), "train": "images/train",
                                                 "val": "images/val", "names": dict(enumerate(task.classes))}))
    atomic.write_text(done, "")
    return data_yaml


def train_arguments(config: MemberConfig, data_yaml: Path, run: RunFolder, device: torch.device,
                    quiet: bool) -> dict:
    """Our config keys as ultralytics' training arguments."""
    if config.optim.name not in OPTIMIZERS:
        raise UserError(f"optim.name {config.optim.name!r}: ultralytics trains yolov8-seg with "
                        f"{', '.join(OPTIMIZERS)} only")
    return {
        "data": str(data_yaml), "epochs": config.train.epochs, "batch": config.train.batch_size,
        "nbs": config.train.batch_size * config.train.accumulate,  # ultralytics' default 64 accumulates batches
        "imgsz": config.data.image_size, "optimizer": OPTIMIZERS[config.optim.name], "lr0": config.optim.lr,
        "weight_decay": config.optim.weight_decay, "momentum": config.optim.momentum, "seed": config.train.seed,
        "cos_lr": config.scheduler.name == SchedulerName.COSINE, "warmup_epochs": config.scheduler.warmup_epochs,
        "device": "cpu" if device.type == "cpu" else str(device.index or 0), "workers": config.data.workers,
        "amp": config.train.amp and device.type == "cuda", "fliplr": config.augment.hflip,
        "flipud": config.augment.vflip, "overlap_mask": False, "plots": False, "pretrained": False, "val": True,
        "project": str(run.path), "name": ULTRALYTICS_DIR, "exist_ok": True, "verbose": not quiet,
        "deterministic": True, **config.model.trainer_args,
    }


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


def train_yolo_fold(config: MemberConfig, fold: int, resume: bool, quiet: bool) -> tuple[Path, float, int]:
    """Train one fold through ultralytics; return (run folder, best mean Dice, epochs)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("yolov8-seg members train under ultralytics' own trainer: run train-fold without torchrun")
    task = get_task(config.task, config.data.root)
    split = read_splits(config.data.splits).fold(fold)
    run = RunFolder(Path(config.run.dir) / f"fold{fold}")
    fingerprint = data_hash(split.train + split.val, task.root)
    last = run.path / ULTRALYTICS_DIR / "weights" / "last.pt"
    if resume and not last.is_file():
        raise UserError(f"cannot resume {run.path}: no ultralytics checkpoint {last}")
    offline_ultralytics(run.path / ULTRALYTICS_DIR / "settings")
    from ultralytics import YOLO

    device = pick_device(config.train.device, key="train.device")
    data_yaml = export_dataset(task, split, Path(config.run.dir) / "yolo_data" / f"fold{fold}-{fingerprint}")
    arguments = train_arguments(config, data_yaml, run, device, quiet)
    with no_font_download():
        if resume:
            yolo = YOLO(str(last), task="segment")  # our own checkpoint from the interrupted run
            yolo.train(resume=True, **{k: arguments[k] for k in ("data", "device", "workers", "verbose")})
        else:
            scale = config.model.params.get("scale", "n")
            yolo = YOLO(f"yolov8{scale}-seg.yaml", task="segment")
            change = initial_change(config, len(task.classes))
            if change is not None:
                yolo.add_callback("on_pretrain_routine_end", lambda trainer: change_new_network(trainer, change))
            yolo.train(**arguments)
    model = build_model(config.model, len(task.classes), with_pretrained=False)
    model.load_state_dict(yolo.model.float().state_dict())
    run.save_weights(model)
    atomic.write_text(run.path / MODEL_YAML, yaml.safe_dump(model.yaml, sort_keys=False))
    predictor = build_predictor(config, model.to(device), device)
    val = ValidationSet(task, split.val, predictor, quiet)
    sums, count = val.dice_sums(predictor, config.train.batch_size, len(task.classes))
    per_class = sums / max(count, 1)
    for index, probs in val.grid_probabilities(predictor, config.train.batch_size):
        run.write_oof(Path(split.val[index]).name, shrink_probs(probs, config.train.oof_size))
    rows = ultralytics_log(run.path / ULTRALYTICS_DIR / "results.csv")
    if rows:
        rows[-1]["val_dice"] = round(float(per_class.mean()), 6)
    run.write_log(rows)
    run.write_state({
        "config": config.model_dump(mode="json"), "fold": fold, "epoch": config.train.epochs,
        "best_epoch": config.train.epochs, "best_dice": float(per_class.mean()), "data_hash": fingerprint,
        "classes": list(task.classes), "val_cases": split.val, "world_size": 1,
        "last_val_dice_per_class": [round(float(d), 6) for d in per_class], "oof_done": True,
        "trainer": "ultralytics"})
    if rows:
        plot_curves(run.path / LOG_FILE, run.path / CURVES_FILE, f"{run.path.parent.name} fold {fold}")
    return run.path, float(per_class.mean()), config.train.epochs

"""A yolov8-seg member's config as ultralytics' training arguments: every shared key ultralytics can honour mapped
onto the argument that does the same thing; a key it cannot honour is refused in one line before any work (the
keys it has nothing for at all: `models/yolo.py`'s refusals)."""
from __future__ import annotations

import torch

from configs.schema import AugmentConfig, MemberConfig
from errors import UserError
from models.run_folder import RunFolder
from names import OptimizerName, SchedulerName

ULTRALYTICS_DIR = "ultralytics"  # inside the run folder: its checkpoints, results.csv and settings
OPTIMIZERS = {OptimizerName.ADAM: "Adam", OptimizerName.ADAMW: "AdamW", OptimizerName.SGD: "SGD"}


def every_image(config: AugmentConfig, key: str, what: str) -> bool:
    """Whether augment.<key> is on; ultralytics applies `what` to every image, so only 0 and 1 can be honoured."""
    probability = getattr(config, key)
    if probability not in (0, 1):
        raise UserError(f"augment.{key} {probability}: ultralytics applies its {what} to every image; set 1 or 0")
    return probability == 1


def augment_arguments(config: AugmentConfig) -> dict:
    """Flips, rotation, affine and colour jitter as ultralytics' fliplr/flipud, degrees/translate/scale and
    hsv_h/s/v; a transform left at 0 leaves ultralytics' own value (its default, or model.trainer_args)."""
    out = {"fliplr": config.hflip, "flipud": config.vflip}
    rotate = every_image(config, "rotate", "rotation (degrees)")
    affine = every_image(config, "affine", "affine (degrees, translate, scale)")
    if rotate and affine:
        raise UserError("augment.rotate and augment.affine: ultralytics has one rotation (degrees); set one of them")
    if rotate:
        out["degrees"] = config.rotate_limit
    if affine:
        out.update(degrees=config.affine_rotate, translate=config.affine_translate, scale=list(config.affine_scale))
    if every_image(config, "color_jitter", "HSV jitter (hsv_h, hsv_s, hsv_v)"):
        if config.jitter_contrast:
            raise UserError("augment.jitter_contrast: ultralytics' colour jitter has no contrast change; set 0")
        low, high = config.jitter_brightness
        out.update(hsv_h=config.jitter_hue, hsv_s=config.jitter_saturation, hsv_v=max(1 - low, high - 1))
    return out


def schedule_arguments(config: MemberConfig) -> dict:
    """Cosine or constant learning rate to `scheduler.min_lr`, after `warmup_epochs` (ultralytics' cos_lr, lrf)."""
    scheduler, lr = config.scheduler, config.optim.lr
    if scheduler.name not in (SchedulerName.COSINE, SchedulerName.NONE):
        raise UserError(f"scheduler.name {scheduler.name.value!r}: ultralytics schedules cosine or none only")
    final = 1.0 if scheduler.name == SchedulerName.NONE else min(scheduler.min_lr / lr, 1.0)
    if scheduler.name == SchedulerName.NONE and scheduler.min_lr:
        raise UserError("scheduler.min_lr: with scheduler none the learning rate stays optim.lr; leave it 0")
    return {"cos_lr": scheduler.name == SchedulerName.COSINE, "lrf": final, "warmup_epochs": scheduler.warmup_epochs}


def train_arguments(config: MemberConfig, run: RunFolder, device: torch.device, quiet: bool) -> dict:
    """Our config keys as ultralytics' training arguments (but `data`, the exported dataset's YAML);
    `model.trainer_args` may add others, not replace these."""
    if config.optim.name not in OPTIMIZERS:
        raise UserError(f"optim.name {config.optim.name!r}: ultralytics trains yolov8-seg with "
                        f"{', '.join(OPTIMIZERS)} only")
    mapped = {
        "epochs": config.train.epochs, "batch": config.train.batch_size,
        "nbs": config.train.batch_size * config.train.accumulate,  # ultralytics' default 64 accumulates batches
        "imgsz": config.data.image_size, "optimizer": OPTIMIZERS[config.optim.name], "lr0": config.optim.lr,
        "weight_decay": config.optim.weight_decay, "momentum": config.optim.momentum, "seed": config.train.seed,
        "device": "cpu" if device.type == "cpu" else str(device.index or 0), "workers": config.data.workers,
        "amp": config.train.amp and device.type == "cuda",
        **schedule_arguments(config), **augment_arguments(config.augment),
    }
    clash = next((key for key in config.model.trainer_args if key in mapped), None)
    if clash is not None:
        raise UserError(f"model.trainer_args.{clash}: set by the member's own keys (train, optim, scheduler, "
                        f"augment); set it there")
    return {
        **mapped, "overlap_mask": False, "plots": False, "pretrained": False, "val": True,
        # absolute: ultralytics puts a relative project under its own runs_dir
        "project": str(run.path.resolve()), "name": ULTRALYTICS_DIR, "exist_ok": True, "verbose": not quiet,
        "deterministic": True, **config.model.trainer_args,
    }


def check_trainer_args(trainer_args: dict) -> None:
    """Ultralytics' own names, types and ranges for `model.trainer_args`, before any work."""
    from ultralytics.cfg import DEFAULT_CFG_DICT, check_cfg

    unknown = sorted(set(trainer_args) - set(DEFAULT_CFG_DICT))
    if unknown:
        raise UserError(f"model.trainer_args.{unknown[0]}: not an ultralytics training argument")
    try:
        check_cfg(dict(trainer_args))
    except (TypeError, ValueError) as err:
        raise UserError(f"model.trainer_args: {str(err).strip().splitlines()[0][:200]}") from None

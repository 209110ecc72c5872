"""`train-fold`: one member on one fold, in our engine or (YOLOv8-seg) in ultralytics' trainer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from configs.schema import MemberConfig
from models import check_family_keys, family


@dataclass(frozen=True)
class FoldResult:
    """The outcome of one train-fold: the run folder, the best Dice seen and the Dice and epoch kept."""
    run_dir: Path
    best_dice: float
    best_epoch: int
    kept_dice: float
    kept_epoch: int
    checkpoint: str
    is_main: bool = True  # False in the other processes of a torchrun job


def train_fold(config: MemberConfig, fold: int, resume: bool = False, quiet: bool = False) -> FoldResult:
    """Train `config` on fold `fold` with its family's trainer, resuming from the last finished epoch if asked."""
    check_family_keys(config)
    return TRAINERS[family(config.model.name).trainer](config, fold, resume, quiet)


def in_our_engine(config: MemberConfig, fold: int, resume: bool, quiet: bool) -> FoldResult:
    """Train in this project's engine (torch members)."""
    from folds.engine import train_torch_fold

    trainer, is_main = train_torch_fold(config, fold, resume, quiet)
    return FoldResult(trainer.run.path, trainer.best_dice, trainer.best_epoch, trainer.kept_dice, trainer.kept_epoch,
                      config.train.checkpoint.value, is_main)


def in_ultralytics(config: MemberConfig, fold: int, resume: bool, quiet: bool) -> FoldResult:
    """Train through ultralytics' trainer (YOLO members)."""
    from folds.yolo.trainer import train_yolo_fold

    state = train_yolo_fold(config, fold, resume, quiet)
    return FoldResult(Path(config.run.dir) / f"fold{fold}", state.best_dice, state.best_epoch, state.kept_dice,
                      state.kept_epoch, config.train.checkpoint.value)


TRAINERS = {"segzoo": in_our_engine, "ultralytics": in_ultralytics}  # Family.trainer -> how it trains

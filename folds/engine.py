"""The train-fold engine for torch members: one member, one fold -> the kept weights (train.checkpoint), log, OOF
probabilities."""
from __future__ import annotations

import json
import random
import time

import albumentations as A
import numpy as np
import torch
import torch.nn as nn
from torch.optim.swa_utils import SWALR, AveragedModel, get_ema_multi_avg_fn, update_bn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from configs.schema import MemberConfig
from data.augment import build_transform, normalize
from data.task import Task
from folds.dataset import CropDataset, SegmentationDataset
from folds.fold_run import finish_fold, open_fold, per_class_list, writing
from folds.loaders import MAIN_PROCESS, epoch_loader, stream_seed
from folds.loggers import MetricLoggers
from folds.optim import build_optimizer, build_scheduler
from folds.validation import ValidationSet
from models import build_model, distributed
from models.device import amp_dtype, autocast, pick_device
from models.losses import CombinedLoss
from models.predictors import Predictor, build_predictor
from names import Checkpoint, Sampling


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def precision_label(device: torch.device, precision: torch.dtype | None) -> str:
    """`cpu/bfloat16`, `cuda/float16`, `cpu/float32`: what a resume must train with again."""
    return f"{device.type}/{str(precision or torch.float32).removeprefix('torch.')}"


def training_set(config: MemberConfig, task: Task, cases: list[str], transform: A.Compose,
                 quiet: bool) -> Dataset:
    """Whole images resized to `data.image_size`, or native-size crops of that size."""
    data = config.data
    if data.sampling == Sampling.CROPS:
        return CropDataset(task, cases, data.image_size, data.crops_per_image, data.foreground_share, transform,
                           data.cache, quiet)
    return SegmentationDataset(task, cases, data.image_size, transform, data.cache, quiet)


class FoldTrainer:
    """Holds the pieces of one train-fold run and moves it epoch by epoch."""

    def __init__(self, config: MemberConfig, fold: int, quiet: bool, resume: bool = False):
        """Open fold `fold` of `config` (refusing bad inputs before any work) and build everything training needs."""
        self.config, self.fold = config, fold
        train = config.train
        if train.threads:
            torch.set_num_threads(train.threads)
        device = pick_device(train.device)
        self.processes = distributed.start(device)
        self.device = self.processes.device(device)
        self.quiet = quiet or not self.processes.is_main
        self.memory_format = torch.channels_last if train.channels_last else torch.contiguous_format
        self.precision = amp_dtype(self.device, train.amp, train.amp_dtype)  # checked before any work
        self.fold_run = open_fold(config, fold, resume, self.processes.world_size,  # checked before any work
                                  precision_label(self.device, self.precision))
        self.run, task, split = self.fold_run.run, self.fold_run.task, self.fold_run.split
        resume_from = self.run.load_resume() if self.fold_run.resuming else None
        self.num_classes = len(task.classes)
        seed_everything(train.seed)
        self.model = build_model(config.model, self.num_classes).to(self.device, memory_format=self.memory_format)
        if train.sync_bn and self.processes.distributed:
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.network = self.distributed_network() if self.processes.distributed else self.model
        self.ema = None if train.ema_decay is None else AveragedModel(
            self.model, multi_avg_fn=get_ema_multi_avg_fn(train.ema_decay), use_buffers=True)
        self.transform = build_transform(config.augment, train.seed)
        self.train_set = training_set(config, task, split.train, self.transform, self.quiet)
        self.predictor = build_predictor(config, self.evaluated, self.device)
        self.val = ValidationSet(task, self.processes.share(split.val), self.predictor, self.quiet)
        self.loss = CombinedLoss(train.loss, self.num_classes)
        self.optimizer = build_optimizer(self.model.parameters(), config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.scheduler, train.epochs)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == torch.float16)
        self.swa = AveragedModel(self.model) if train.swa_start is not None else None
        self.swa_scheduler = SWALR(self.optimizer, train.swa_lr) if self.swa and train.swa_lr else None
        self.epoch, self.best_dice, self.best_epoch, self.log_rows = 0, -1.0, 0, []
        self.kept_epoch, self.kept_dice = 0, -1.0
        self.restored = resume_from is not None
        if self.restored:
            self.restore(resume_from)

    @property
    def evaluated(self) -> nn.Module:
        """The weights that are validated, kept (train.checkpoint) and predict the OOF: the EMA when on."""
        return self.model if self.ema is None else self.ema.module

    def distributed_network(self) -> nn.Module:
        """The model wrapped for DistributedDataParallel: used for training steps only; prediction
        runs the plain model, so validation shards of unequal size need no collectives."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        # EffiSegNet keeps MONAI's unused conv head (the published parameter count includes it)
        return nn.parallel.DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True)

    # --- resume -------------------------------------------------------------------------
    def resume_state(self) -> dict:
        """What `--resume` needs to go on exactly: counters, log, weights, optimizer, schedulers, scaler, SWA, EMA."""
        return {"epoch": self.epoch, "best_dice": self.best_dice, "best_epoch": self.best_epoch,
                "kept_epoch": self.kept_epoch, "kept_dice": self.kept_dice,
                "log": json.dumps(self.log_rows),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "swa": self.swa.state_dict() if self.swa else {},
                "ema": self.ema.state_dict() if self.ema else {},
                "swa_scheduler": self.swa_scheduler.state_dict() if self.swa_scheduler else {}}

    def restore(self, state: dict) -> None:
        """Continue from `resume_state`'s dictionary."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.swa:
            self.swa.load_state_dict(state["swa"])
        if self.ema:
            self.ema.load_state_dict(state["ema"])
        if self.swa_scheduler:
            self.swa_scheduler.load_state_dict(state["swa_scheduler"])
        self.epoch, self.best_dice, self.best_epoch = state["epoch"], state["best_dice"], state["best_epoch"]
        self.kept_epoch, self.kept_dice = state["kept_epoch"], state["kept_dice"]
        self.log_rows = json.loads(state["log"])

    # --- one epoch ----------------------------------------------------------------------
    def train_epoch(self) -> float:
        """One epoch over the training loader; its mean loss per image."""
        train = self.config.train
        seed_everything(stream_seed(train.seed, self.epoch, self.processes.rank, MAIN_PROCESS))
        loader = epoch_loader(self.train_set, train.batch_size, self.config.data.workers, train.seed, self.epoch,
                              self.processes.rank, self.processes.world_size)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, seen = 0.0, 0
        bar = tqdm(total=len(loader.sampler), desc=f"epoch {self.epoch + 1}/{train.epochs}", unit="img",
                   disable=self.quiet, leave=False)
        for step, (images, masks) in enumerate(loader, start=1):
            x = normalize(images.to(self.device)).contiguous(memory_format=self.memory_format)
            y = masks.to(self.device).float()
            ignore = y[:, self.num_classes:] > 0 if y.shape[1] > self.num_classes else None  # a label map's ignore
            y = y[:, :self.num_classes]
            with autocast(self.device, self.precision):
                logits = self.network(x)
            loss = self.loss(logits, y, ignore)  # float32: the loss casts the logits up
            self.scaler.scale(loss / train.accumulate).backward()
            if step % train.accumulate == 0 or step == len(loader):
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                if self.ema:
                    self.ema.update_parameters(self.model)
            total, seen = total + loss.item() * len(images), seen + len(images)
            bar.update(len(images))
            bar.set_postfix(loss=f"{total / seen:.4f}")
        bar.close()
        total, seen = self.processes.sum(np.array([total, seen]))
        return float(total / seen)

    def validate(self, predictor: Predictor) -> np.ndarray:
        """Per-class Dice averaged over the whole validation set (every process's share)."""
        sums, scored = self.val.dice_sums(predictor, self.config.train.batch_size, self.num_classes)
        totals = self.processes.sum(np.concatenate([sums, scored]))
        return totals[:self.num_classes] / np.maximum(totals[self.num_classes:], 1)  # a class never scored: 0

    def step_schedulers(self, dice: float | None) -> None:
        """Advance the learning-rate schedulers once per epoch (the plateau scheduler by the validation Dice)."""
        train = self.config.train
        if self.swa and self.epoch >= train.swa_start:
            self.swa.update_parameters(self.model)
            if self.swa_scheduler:
                self.swa_scheduler.step()
                return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if dice is not None:
                self.scheduler.step(dice)
        else:
            self.scheduler.step()

    def run_epoch(self, loggers: MetricLoggers) -> None:
        """Train one epoch, validate when due, keep the weights `train.checkpoint` asks for, log and save state."""
        train = self.config.train
        started = time.perf_counter()
        loss = self.train_epoch()
        train_seconds = time.perf_counter() - started
        self.epoch += 1
        due = self.epoch % train.val_every == 0 or self.epoch == train.epochs
        per_class = self.validate(self.predictor) if due else None
        dice = float(per_class.mean()) if per_class is not None else None
        improved = dice is not None and dice > self.best_dice
        if improved:
            self.best_dice, self.best_epoch = dice, self.epoch
        if improved if train.checkpoint == Checkpoint.BEST else dice is not None:
            self.keep(self.evaluated, self.epoch, dice)
        row = {"epoch": self.epoch, "loss": round(loss, 6), "val_dice": "" if dice is None else round(dice, 6),
               "lr": self.optimizer.param_groups[0]["lr"],
               "images_per_s": round(len(self.train_set) / train_seconds, 2), "train_seconds": round(train_seconds, 2)}
        self.step_schedulers(dice)
        self.log_rows.append(row)
        if self.processes.is_main:  # one writer of artefacts and logs
            loggers.log(self.epoch, {k: v for k, v in row.items() if isinstance(v, float)})
            self.run.save_resume(self.resume_state())
            self.run.write_log(self.log_rows)
            self.write_state(per_class)

    # --- finishing ----------------------------------------------------------------------
    def finish_swa(self) -> None:
        """Average weights from swa_start on; keep them if they validate better."""
        if not self.swa or self.swa.n_averaged.item() == 0:
            return
        loader = DataLoader(self.train_set, batch_size=self.config.train.batch_size)
        batches = (normalize(images.to(self.device)) for images, _ in loader)
        update_bn(batches, self.swa, device=self.device)
        dice = float(self.validate(build_predictor(self.config, self.swa.module, self.device)).mean())
        improved = dice > self.best_dice
        if improved:
            self.best_dice, self.best_epoch = dice, -1  # -1: the SWA average
        if improved or self.config.train.checkpoint == Checkpoint.LAST:  # `last`: the average is the final model
            self.keep(self.swa.module, -1, dice)

    def keep(self, model: nn.Module, epoch: int, dice: float) -> None:
        """`model` becomes the member's weights (the main process writes them)."""
        self.kept_epoch, self.kept_dice = epoch, dice
        if self.processes.is_main:
            self.run.save_weights(model)

    def write_state(self, per_class: np.ndarray | None) -> None:
        """Write `state.json` with the progress so far."""
        self.run.write_state(self.progress(per_class))

    def progress(self, per_class: np.ndarray | None = None):
        """The run state with this trainer's progress fields (and the per-class Dice when given)."""
        return self.fold_run.state(epoch=self.epoch, best_epoch=self.best_epoch, best_dice=self.best_dice,
                                   kept_epoch=self.kept_epoch, kept_dice=self.kept_dice,
                                   last_val_dice_per_class=per_class_list(per_class))

    def finish(self) -> None:
        """OOF probabilities of the kept weights (under torchrun each process writes its share), the
        final state and curves."""
        self.processes.barrier()  # the kept weights are on disk
        self.run.load_weights(self.evaluated)
        finish_fold(self.fold_run, self.val, self.predictor, self.quiet, self.progress(),
                    self.processes.barrier, self.processes.is_main)


def train_torch_fold(config: MemberConfig, fold: int, resume: bool, quiet: bool) -> tuple[FoldTrainer, bool]:
    """Train `config` on fold `fold` in this engine; (the trainer, whether this is the main process)."""
    trainer = FoldTrainer(config, fold, quiet, resume)
    sinks = config.run if trainer.processes.is_main else config.run.model_copy(update={"tensorboard": False,
                                                                                        "wandb": False})
    name = f"{trainer.run.path.parent.name}-fold{fold}"
    with writing(trainer.fold_run, None if trainer.restored else trainer.progress(), trainer.processes.is_main):
        loggers = MetricLoggers(sinks, trainer.run.path, name, config.model_dump(mode="json"))
        try:
            while trainer.epoch < config.train.epochs:
                trainer.run_epoch(loggers)
        finally:
            loggers.close()
        trainer.finish_swa()
        trainer.finish()
    distributed.stop(trainer.processes)
    return trainer, trainer.processes.is_main

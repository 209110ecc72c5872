"""Optimizers (Adam, AdamW, SGD, Lion from timm) and per-epoch LR schedulers with warm-up."""
from __future__ import annotations

import torch
from timm.optim import Lion
from torch.optim import lr_scheduler

from configs.schema import OptimConfig, SchedulerConfig
from errors import UserError
from names import OptimizerName, SchedulerName


def build_optimizer(params, config: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser `config` names over `params`."""
    if config.name == OptimizerName.ADAM:
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.name == OptimizerName.ADAMW:
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.name == OptimizerName.SGD:
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return Lion(params, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: SchedulerConfig, epochs: int):
    """A scheduler stepped once per epoch (ReduceLROnPlateau is stepped with the validation Dice)."""
    if config.name == SchedulerName.PLATEAU:
        if config.warmup_epochs:
            raise UserError("scheduler.warmup_epochs cannot be combined with scheduler.name: plateau")
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=config.gamma, patience=config.patience)
    main_epochs = max(1, epochs - config.warmup_epochs)
    if config.name == SchedulerName.COSINE:
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=main_epochs, eta_min=config.min_lr)
    elif config.name == SchedulerName.STEP:
        main = lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    else:
        main = lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    if not config.warmup_epochs:
        return main
    warmup = lr_scheduler.LinearLR(optimizer, start_factor=1.0 / (config.warmup_epochs + 1),
                                   total_iters=config.warmup_epochs)
    return lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[config.warmup_epochs])

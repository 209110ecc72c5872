"""The train-fold command: one member on one fold."""
from __future__ import annotations

import argparse

from commands import AddCommand, add_config


def cmd_train_fold(args: argparse.Namespace) -> None:
    from configs.load import load_config
    from configs.schema import MemberConfig

    config = load_config(args.config, MemberConfig, args.set)
    from folds.train import train_fold

    result = train_fold(config, args.fold, resume=args.resume, quiet=args.quiet)
    if result.is_main:
        print(f"{result.run_dir}: kept the {result.checkpoint} weights (epoch {result.kept_epoch}), mean Dice "
              f"{result.kept_dice:.4f}; best mean Dice {result.best_dice:.4f} at epoch {result.best_epoch}")


def register(add: AddCommand) -> None:
    command = add_config(add("train-fold", cmd_train_fold, "train one member on one fold"))
    command.add_argument("--fold", type=int, required=True)
    command.add_argument("--resume", action="store_true")

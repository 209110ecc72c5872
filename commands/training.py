"""The train-fold command: one member on one fold."""
from __future__ import annotations

import argparse

from commands import MAX_COUNT, AddCommand, add_config, add_number


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
    add_number(command, "--fold", int, 0, MAX_COUNT, required=True, help="0 .. k-1 of the splits file")
    command.add_argument("--resume", action="store_true")

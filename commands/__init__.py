"""What every command's parser shares: the signature of `add` (cli.py's subcommand maker) and the
`--config` / `--set` pair of the commands that read a config."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from configs.schema import TASK_HELP
from errors import UserError

AddCommand = Callable[[str, Callable[[argparse.Namespace], None], str], argparse.ArgumentParser]


def add_set(command: argparse.ArgumentParser) -> None:
    command.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                         help="override config keys: --set a.b=1 c=2 (repeatable)")


def add_config(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.add_argument("--config", required=True)
    add_set(command)
    return command


def add_task(command: argparse.ArgumentParser) -> None:
    command.add_argument("--task", required=True, metavar="TASK",
                         help=TASK_HELP)


SEED_LIMIT = 2**32  # numpy's and scikit-learn's seeds are below it


def check_range(flag: str, value: float, low: float, high: float) -> None:
    """A number a user gave on the command line, finite and within [low, high] before anything is allocated from
    it, or one line naming the flag."""
    if not (math.isfinite(value) and low <= value <= high):
        raise UserError(f"{flag} {value}: expected a number in [{low}, {high}]")


def check_seed(value: int) -> None:
    check_range("--seed", value, 0, SEED_LIMIT - 1)

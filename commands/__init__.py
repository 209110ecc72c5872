"""What every command's parser shares: the signature of `add` (cli.py's subcommand maker) and the
`--config` / `--set` pair of the commands that read a config."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

from configs.schema import TASK_HELP
from errors import one_line

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
MAX_COUNT = 1_000_000  # no count a user gives (folds, members, resamples, images) reaches it


class Bounded:
    """The `type` of every numeric flag: parses an int or a float and refuses, at parse time, what is not finite
    or not within [low, high], so nothing is allocated from it; argparse's message then names the flag."""

    def __init__(self, kind: type[int] | type[float], low: float, high: float) -> None:
        self.kind, self.low, self.high = kind, low, high
        self.__name__ = f"{kind.__name__} in [{low}, {high}]"  # the reference page's "takes" column

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {self.__name__}") from None
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise argparse.ArgumentTypeError(f"{text}: expected {self.__name__}")
        return value


def add_number(command: argparse.ArgumentParser, flag: str, kind: type[int] | type[float], low: float, high: float,
               **kwargs) -> None:
    """A numeric flag, its range part of its definition (every numeric flag of the CLI is made here)."""
    command.add_argument(flag, type=Bounded(kind, low, high), metavar=f"{low}..{high}", **kwargs)


def add_seed(command: argparse.ArgumentParser) -> None:
    """`--seed`: numpy's and scikit-learn's seed range."""
    add_number(command, "--seed", int, 0, SEED_LIMIT - 1, default=0)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line on stderr (the usage stays behind --help), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {one_line(message)} (--help shows the usage)\n")

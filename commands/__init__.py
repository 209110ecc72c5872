"""What every command's parser shares: the signature of `add` (cli.py's subcommand maker) and the
`--config` / `--set` pair of the commands that read a config."""
from __future__ import annotations

import argparse
from collections.abc import Callable

AddCommand = Callable[[str, Callable[[argparse.Namespace], None], str], argparse.ArgumentParser]


def add_set(command: argparse.ArgumentParser) -> None:
    command.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                         help="override config keys: --set a.b=1 c=2 (repeatable)")


def add_config(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.add_argument("--config", required=True)
    add_set(command)
    return command

#!/usr/bin/env python
"""Single entry point: split -> train-fold -> ensemble -> validate / score (and demo)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path

import atomic
from errors import UserError


def cmd_demo(args: argparse.Namespace) -> None:
    from demo import run_demo

    run_demo(Path(args.workdir), quiet=args.quiet)


def build_parser() -> argparse.ArgumentParser:
    """Each stage's commands, handlers and parsers together, live in `commands/<stage>.py`; pipeline order here."""
    from commands import OneLineParser, ensembling, evaluation, prepare, reporting, submission, training

    parser = OneLineParser(description=__doc__)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an unexpected error")
        command.set_defaults(handler=handler)
        return command

    for stage in (prepare, training, ensembling, submission, evaluation, reporting):
        stage.register(add)
    demo = add("demo", cmd_demo, "synthetic data, 2 folds of each of the four families, ensemble, CSV, score")
    demo.add_argument("--workdir", default="demo_runs")
    return parser


class Terminated(BaseException):
    """SIGTERM (what job schedulers send), raised where the process is so every writer cleans up; a BaseException
    like KeyboardInterrupt, so no library's `except Exception` (torch's during its import, say) swallows it."""


def raise_terminated(signum: int, frame) -> None:
    raise Terminated(f"stopped by {signal.Signals(signum).name}")


LIBRARY_CACHES = {"MPLCONFIGDIR": "matplotlib", "TORCHINDUCTOR_CACHE_DIR": "torchinductor",
                  "YOLO_CONFIG_DIR": "ultralytics"}


def keep_library_caches_local() -> None:
    """matplotlib's font cache, torch inductor's and ultralytics' settings go under the project's `.venv/cache`
    rather than the user's home and temp folders, unless the user set those variables."""
    venv = Path(__file__).resolve().parent / ".venv"
    if venv.is_dir():
        for variable, folder in LIBRARY_CACHES.items():
            os.environ.setdefault(variable, str(venv / "cache" / folder))


def main(argv: list[str] | None = None) -> int:
    """Exit 0; 2 for bad input (one line); 1 for anything unexpected (one line, the traceback with --debug);
    130 / 143 when interrupted, after removing what the command had half written."""
    keep_library_caches_local()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help (0), or a bad command line: one line (2)
        return int(done.code or 0)
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    atomic.forget_created()
    try:
        args.handler(args)
        atomic.forget_created()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (Terminated, KeyboardInterrupt) as err:
        print(f"error: {args.command} interrupted ({err or 'Ctrl-C'}); its unfinished outputs were removed",
              file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    except BrokenPipeError:  # `score ... | head`: the reader left; say nothing more on a closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:
        if err.errno not in atomic.FULL:
            return unexpected(args, err)
        print(f"error: {args.command}: {os.strerror(err.errno).lower()} writing {err.filename or 'its output'}; "
              f"its unfinished outputs were removed", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the user gets one line, not a traceback
        return unexpected(args, err)
    finally:
        atomic.discard_created()  # after a failure, what the command made; after success, nothing
        signal.signal(signal.SIGTERM, previous)
    return 0


def unexpected(args: argparse.Namespace, err: Exception) -> int:
    """One line for a failure no one foresaw (a bug): exit 1, the traceback with --debug."""
    if args.debug:
        traceback.print_exc()
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    print(f"error: unexpected failure while running {args.command}: {type(err).__name__}: {message[:300]} "
          f"(--debug shows the traceback)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""The analyze command: the error-analysis page."""
from __future__ import annotations

import argparse

from commands import AddCommand, add_number, add_task


def cmd_analyze(args: argparse.Namespace) -> None:
    from report.analyze import analyze

    out = analyze(args.task, args.out, args.csv, args.runs, args.data_root, args.worst, args.near, quiet=args.quiet)
    print(out / "index.html")


def register(add: AddCommand) -> None:
    analyze = add("analyze", cmd_analyze, "one-page report: per-class Dice, confusion, boundary error, worst "
                  "images, member comparison, training curves")
    add_task(analyze)
    analyze.add_argument("--csv", nargs="+", default=[], help="submission CSVs; the first input is analysed in depth")
    analyze.add_argument("--runs", nargs="+", default=[], metavar="GLOB",
                         help="run folders or globs (their OOF probabilities > 0.5), compared after the CSVs")
    analyze.add_argument("--data-root", help="the labelled images (default for --runs: the runs' data.root)")
    analyze.add_argument("--out", default="report")
    add_number(analyze, "--worst", int, 0, 1000, default=4, help="overlays of this many worst images")
    add_number(analyze, "--near", float, 0.5, 1000, default=3.0,
               help="boundary band in pixels for the boundary error")

"""The score and compare commands: submissions against labels."""
from __future__ import annotations

import argparse
from pathlib import Path

import atomic
from atomic import refuse_input_as_output
from commands import AddCommand, add_number, add_seed, add_task


def cmd_score(args: argparse.Namespace) -> None:
    from evaluate.score import score_csv

    report = score_csv(args.task, args.csv, args.data_root, quiet=args.quiet)
    print(report.table())
    print(f"mean Dice: {report.mean_dice:.4f}")


MAX_RESAMPLES = 1_000_000  # bootstrap resamples: a 300-image draw table of this many fits in a few GB


def cmd_compare(args: argparse.Namespace) -> None:
    from data import get_task
    from evaluate.compare import compare_csvs, comparison_table, write_comparisons

    if args.out:
        task = get_task(args.task, args.data_root)
        refuse_input_as_output(args.out, [*args.csv, *task.label_folders(task.labelled_cases())], "--out")
        atomic.check_target(Path(args.out))
    comparisons = compare_csvs(args.task, args.csv, args.data_root, args.resamples, args.seed, quiet=args.quiet)
    print(comparison_table(comparisons))
    if args.out:
        write_comparisons(comparisons, args.out)
        print(args.out)


def register(add: AddCommand) -> None:
    score = add("score", cmd_score, "mean Dice of a CSV against labels, per class")
    add_task(score)
    score.add_argument("--csv", required=True)
    score.add_argument("--data-root", required=True)

    compare = add("compare", cmd_compare, "is B really better than A? the paired bootstrap of per-image Dice "
                  "(over the task's groups, patients say)")
    add_task(compare)
    compare.add_argument("--csv", nargs="+", required=True, help="A.csv B.csv [C.csv ...]: A against each other")
    compare.add_argument("--data-root", required=True)
    add_number(compare, "--resamples", int, 1, MAX_RESAMPLES, default=10000)
    add_seed(compare)
    compare.add_argument("--out", help="the rows as CSV")

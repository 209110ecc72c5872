#!/usr/bin/env python
"""Single entry point: split -> train-fold -> ensemble -> validate / score (and demo)."""
from __future__ import annotations

import argparse
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import atomic
from atomic import refuse_input_as_output
from errors import UserError
from names import SplitMethod, TaskName, choices


def cmd_split(args: argparse.Namespace) -> None:
    from data import get_task
    from data.splits import make_splits, write_splits

    splits = make_splits(get_task(args.task, args.data_root), args.k, args.seed, args.method)
    write_splits(splits, args.out)
    sizes = ", ".join(f"{len(f.train)}/{len(f.val)}" for f in splits.folds)
    print(f"{args.out}: {splits.method}, {len(splits.folds)} folds (train/val: {sizes})")


def cmd_synth(args: argparse.Namespace) -> None:
    from atomic import claimable_folder, mark_folder
    from data.synthetic import make_handbone, make_kvasir

    if args.size < 32 or args.count < 1:
        raise UserError(f"synth needs --size >= 32 and --count >= 1 (got {args.size}, {args.count})")
    claimable_folder(args.out, "synth", "--out")
    mark_folder(args.out, "synth")

    if args.task == TaskName.HANDBONE:
        make_handbone(args.out, patients=args.count, size=args.size, seed=args.seed)
    else:
        make_kvasir(args.out, train=args.count, size=args.size, seed=args.seed)
    print(args.out)


def cmd_train_fold(args: argparse.Namespace) -> None:
    from configs.schema import MemberConfig, load_config

    config = load_config(args.config, MemberConfig, args.set)
    from folds.train import train_fold

    result = train_fold(config, args.fold, resume=args.resume, quiet=args.quiet)
    if result.is_main:
        print(f"{result.run_dir}: best mean Dice {result.best_dice:.4f} at epoch {result.best_epoch}")


def cmd_ensemble(args: argparse.Namespace) -> None:
    from configs.schema import EnsembleConfig, load_config
    from ensemble.run import run_ensemble
    from ensemble.shards import Shard
    from models.distributed import is_main_process

    config = load_config(args.config, EnsembleConfig, args.set)
    shard = Shard.parse(args.shard) if args.shard else None
    csv = run_ensemble(config, quiet=args.quiet, shard=shard)
    if is_main_process():  # under torchrun, rank 0 alone reports
        if config.weights is not None:
            print(f"notice: per-class weights, thresholds and post-processing from {config.weights}; the config's "
                  f"`thresholds`, `postprocess` and the members' `weight` were ignored", file=sys.stderr)
        print(csv)


def cmd_merge(args: argparse.Namespace) -> None:
    from ensemble.shards import merge_shards

    print(merge_shards(args.csv, args.out))


def cmd_tune_thresholds(args: argparse.Namespace) -> None:
    from configs.schema import EnsembleConfig, load_config
    from ensemble.tune import tune_thresholds

    config = load_config(args.config, EnsembleConfig, args.set)
    refuse_input_as_output(args.out, [args.config], "--out")
    print(tune_thresholds(config, Path(args.out), quiet=args.quiet))


def cmd_tune_ensemble(args: argparse.Namespace) -> None:
    from configs.schema import EnsembleConfig, load_config
    from ensemble.tune import tune_ensemble

    config = load_config(args.config, EnsembleConfig, args.set)
    refuse_input_as_output(args.out, [args.config], "--out")
    tuning = tune_ensemble(config, Path(args.out), quiet=args.quiet)
    print(tuning.table())
    print(f"{tuning.weights_file} (use it as `weights:` in the ensemble config), {tuning.table_file}")


def cmd_pseudo_label(args: argparse.Namespace) -> None:
    from configs.schema import EnsembleConfig, load_config
    from ensemble.pseudo import pseudo_label

    config = load_config(args.config, EnsembleConfig, args.set)
    labels = pseudo_label(config, Path(args.out), Path(args.splits), args.min_confidence, args.name, args.quiet)
    print(f"{labels.root}: {labels.labelled} test images labelled, {labels.dropped} below --min-confidence "
          f"dropped; train on them with --set \"data.extra_roots={{{args.name}: {labels.root}}}\" "
          f"data.splits={labels.splits}")


def cmd_vote(args: argparse.Namespace) -> None:
    from ensemble.hard_vote import hard_vote_csvs

    hard_vote_csvs(args.csv, args.out, args.min_votes, quiet=args.quiet)
    print(args.out)


def cmd_validate(args: argparse.Namespace) -> None:
    from submit.validate import validate_csv

    count = validate_csv(args.task, args.csv, args.images)
    print(f"{args.csv}: valid ({count} images)")


def cmd_score(args: argparse.Namespace) -> None:
    from evaluate.score import score_csv

    report = score_csv(args.task, args.csv, args.data_root, quiet=args.quiet)
    print(report.table())
    print(f"mean Dice: {report.mean_dice:.4f}")


def cmd_compare(args: argparse.Namespace) -> None:
    from evaluate.compare import compare_csvs, comparison_table, write_comparisons

    if args.out:
        refuse_input_as_output(args.out, args.csv, "--out")
        atomic.check_target(Path(args.out))
    comparisons = compare_csvs(args.task, args.csv, args.data_root, args.resamples, args.seed, quiet=args.quiet)
    print(comparison_table(comparisons))
    if args.out:
        write_comparisons(comparisons, args.out)
        print(args.out)


def cmd_analyze(args: argparse.Namespace) -> None:
    from report.analyze import analyze

    out = analyze(args.task, args.out, args.csv, args.runs, args.data_root, args.worst, args.near, quiet=args.quiet)
    print(out / "index.html")


def cmd_import_weights(args: argparse.Namespace) -> None:
    from configs.schema import MemberConfig, load_config
    from models.import_weights import import_weights

    config = load_config(args.config, MemberConfig, args.set)
    refuse_input_as_output(args.out, [args.weights, args.config], "--out")
    print(import_weights(Path(args.weights), config, Path(args.out)))


def cmd_demo(args: argparse.Namespace) -> None:
    from demo import run_demo

    run_demo(Path(args.workdir), quiet=args.quiet)


Add = Callable[[str, Callable[[argparse.Namespace], None], str], argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
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

    add_data_commands(add)
    add_config_commands(add)
    add_submission_commands(add)
    demo = add("demo", cmd_demo, "synthetic data, 2 folds of each of the four families, ensemble, CSV, score")
    demo.add_argument("--workdir", default="demo_runs")
    return parser


def add_data_commands(add: Add) -> None:
    """split, synth, import-weights: the inputs of training."""
    tasks = choices(TaskName)
    split = add("split", cmd_split, "make k folds once, persisted as splits.json")
    split.add_argument("--task", choices=tasks, required=True)
    split.add_argument("--data-root", required=True)
    split.add_argument("--k", type=int, default=5)
    split.add_argument("--seed", type=int, default=0)
    split.add_argument("--method", choices=choices(SplitMethod))
    split.add_argument("--out", default="splits.json")

    synth = add("synth", cmd_synth, "write a synthetic data set in the task's layout")
    synth.add_argument("--task", choices=tasks, required=True)
    synth.add_argument("--out", required=True)
    synth.add_argument("--count", type=int, default=6, help="patients (handbone) or train images (kvasir)")
    synth.add_argument("--size", type=int, default=256)
    synth.add_argument("--seed", type=int, default=0)

    weights = add("import-weights", cmd_import_weights, "map another implementation's weights onto a member's "
                  "network or encoder; write safetensors and a JSON sidecar")
    weights.add_argument("--weights", required=True, help="source state dict (.safetensors or tensors-only torch file)")
    weights.add_argument("--config", required=True, help="the member config whose network receives them")
    weights.add_argument("--out", required=True, help="FILE.safetensors (and FILE.json beside it)")
    weights.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE")


def add_config_commands(add: Add) -> None:
    """The stages that read a member or ensemble config: train-fold, ensemble, tune-thresholds, tune-ensemble."""
    for name, handler, help_text in (("train-fold", cmd_train_fold, "train one member on one fold"),
                                     ("ensemble", cmd_ensemble, "soft-vote members into a submission CSV"),
                                     ("tune-thresholds", cmd_tune_thresholds, "per-class thresholds from OOF"),
                                     ("tune-ensemble", cmd_tune_ensemble,
                                      "per-class member weights and thresholds from OOF, cross-validated"),
                                     ("pseudo-label", cmd_pseudo_label, "the ensemble's test masks as labels in "
                                      "the task's layout, and splits that train on them")):
        command = add(name, handler, help_text)
        command.add_argument("--config", required=True)
        command.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                             help="override config keys: --set a.b=1 c=2 (repeatable)")
        if name == "train-fold":
            command.add_argument("--fold", type=int, required=True)
            command.add_argument("--resume", action="store_true")
        if name == "tune-thresholds":
            command.add_argument("--out", default="thresholds.json")
        if name == "tune-ensemble":
            command.add_argument("--out", default="ensemble_weights.json")
        if name == "pseudo-label":
            command.add_argument("--out", required=True, help="a new folder: a data root of the task's layout")
            command.add_argument("--splits", required=True, help="the folds to extend (their val lists stay)")
            command.add_argument("--min-confidence", type=float, default=0.0,
                                 help="drop images whose mean max(p, 1-p) near the predicted foreground is below")
            command.add_argument("--name", default="pseudo", help="the key of data.extra_roots for --out")
        if name == "ensemble":
            command.add_argument("--shard", metavar="I/N", help="only every N-th sorted test image from the I-th "
                                 "(0 <= I < N), or `auto`: this SLURM array task's shard; writes a partial CSV "
                                 "and a sidecar for merge (under torchrun the ranks shard by themselves)")


def add_submission_commands(add: Add) -> None:
    """merge, vote, validate, score, analyze: commands over submission CSVs."""
    tasks = choices(TaskName)
    merge = add("merge", cmd_merge, "join the partial CSVs of a sharded ensemble")
    merge.add_argument("--csv", nargs="+", required=True)
    merge.add_argument("--out", required=True)

    vote = add("vote", cmd_vote, "hard-vote several submission CSVs")
    vote.add_argument("--csv", nargs="+", required=True)
    vote.add_argument("--min-votes", type=int, required=True)
    vote.add_argument("--out", default="vote.csv")

    validate = add("validate", cmd_validate, "check a CSV is accepted before uploading it")
    validate.add_argument("--task", choices=tasks, required=True)
    validate.add_argument("--csv", required=True)
    validate.add_argument("--images", required=True, help="dataset root or test image folder")

    score = add("score", cmd_score, "mean Dice of a CSV against labels, per class")
    score.add_argument("--task", choices=tasks, required=True)
    score.add_argument("--csv", required=True)
    score.add_argument("--data-root", required=True)

    compare = add("compare", cmd_compare, "is B really better than A? the paired bootstrap of per-image Dice "
                  "(hand-bone: over patients)")
    compare.add_argument("--task", choices=tasks, required=True)
    compare.add_argument("--csv", nargs="+", required=True, help="A.csv B.csv [C.csv ...]: A against each other")
    compare.add_argument("--data-root", required=True)
    compare.add_argument("--resamples", type=int, default=10000)
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--out", help="the rows as CSV")

    analyze = add("analyze", cmd_analyze, "one-page report: per-class Dice, confusion, boundary error, worst "
                  "images, member comparison, training curves")
    analyze.add_argument("--task", choices=tasks, required=True)
    analyze.add_argument("--csv", nargs="+", default=[], help="submission CSVs; the first input is analysed in depth")
    analyze.add_argument("--runs", nargs="+", default=[], metavar="GLOB",
                         help="run folders or globs (their OOF probabilities > 0.5), compared after the CSVs")
    analyze.add_argument("--data-root", help="the labelled images (default for --runs: the runs' data.root)")
    analyze.add_argument("--out", default="report")
    analyze.add_argument("--worst", type=int, default=4, help="overlays of this many worst images")
    analyze.add_argument("--near", type=float, default=3.0, help="boundary band in pixels for the boundary error")


class Terminated(Exception):
    """SIGTERM (what job schedulers send), raised where the process is so every writer cleans up."""


def raise_terminated(signum: int, frame) -> None:
    raise Terminated(f"stopped by {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> int:
    """Exit 0; 2 for bad input (one line); 1 for anything unexpected (one line, the traceback with --debug);
    130 / 143 when interrupted, after removing what the command had half written."""
    args = build_parser().parse_args(argv)
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
    except Exception as err:  # noqa: BLE001 - the user gets one line, not a traceback
        if args.debug:
            traceback.print_exc()
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"error: unexpected failure while running {args.command}: {type(err).__name__}: {message[:300]} "
              f"(--debug shows the traceback)", file=sys.stderr)
        return 1
    finally:
        atomic.discard_created()  # after a failure, what the command made; after success, nothing
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ensemble, merge, tune-thresholds, tune-ensemble, pseudo-label and vote commands."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atomic import refuse_input_as_output
from commands import MAX_COUNT, AddCommand, add_config, add_number
from configs.load import config_files


def cmd_ensemble(args: argparse.Namespace) -> None:
    from configs.load import load_config
    from configs.schema import EnsembleConfig
    from ensemble.run import run_ensemble
    from ensemble.shards import Shard
    from models.distributed import is_main_process

    config = load_config(args.config, EnsembleConfig, args.set)
    refuse_input_as_output(config.output.csv, config_files(args.config), "output.csv")
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
    from configs.load import load_config
    from configs.schema import EnsembleConfig
    from ensemble.members import ensemble_inputs
    from ensemble.tune import tune_thresholds

    config = load_config(args.config, EnsembleConfig, args.set)
    refuse_input_as_output(args.out, config_files(args.config), "--out")
    refuse_input_as_output(args.out, ensemble_inputs(config), "--out")
    print(tune_thresholds(config, Path(args.out), quiet=args.quiet))


def cmd_tune_ensemble(args: argparse.Namespace) -> None:
    from configs.load import load_config
    from configs.schema import EnsembleConfig
    from ensemble.members import ensemble_inputs
    from ensemble.tune import tune_ensemble

    config = load_config(args.config, EnsembleConfig, args.set)
    refuse_input_as_output(args.out, config_files(args.config), "--out")
    refuse_input_as_output(args.out, ensemble_inputs(config), "--out")
    tuning = tune_ensemble(config, Path(args.out), quiet=args.quiet)
    print(tuning.table())
    print(f"{tuning.weights_file} (use it as `weights:` in the ensemble config), {tuning.table_file}")


def cmd_pseudo_label(args: argparse.Namespace) -> None:
    from configs.load import load_config
    from configs.schema import EnsembleConfig
    from ensemble.members import ensemble_inputs
    from ensemble.pseudo import pseudo_label

    config = load_config(args.config, EnsembleConfig, args.set)
    refuse_input_as_output(args.out, [*config_files(args.config), args.splits], "--out")
    refuse_input_as_output(args.out, [*ensemble_inputs(config), config.data.root], "--out")
    labels = pseudo_label(config, Path(args.out), Path(args.splits), args.min_confidence, args.name, args.quiet)
    roots = ", ".join(f"{key}: {root}" for key, root in labels.roots.items())
    print(f"{labels.root}: {labels.labelled} labels written over {len(labels.roots)} folds, {labels.dropped} below "
          f"--min-confidence dropped; train on them with --set \"data.extra_roots={{{roots}}}\" "
          f"data.splits={labels.splits}")


def cmd_vote(args: argparse.Namespace) -> None:
    from configs.task import load_task_spec
    from ensemble.hard_vote import hard_vote_csvs
    from submit.submission import COMPETITION

    task = None if args.task is None else load_task_spec(args.task)
    hard_vote_csvs(args.csv, args.out, args.min_votes, quiet=args.quiet,
                   spec=COMPETITION if task is None else task.submission, classes=task and tuple(task.classes))
    print(args.out)


def register(add: AddCommand) -> None:
    ensemble = add_config(add("ensemble", cmd_ensemble, "soft-vote members into a submission CSV"))
    ensemble.add_argument("--shard", metavar="I/N", help="only every N-th sorted test image from the I-th "
                          "(0 <= I < N); `auto`: this SLURM array task's shard; `auto:N`: shard SLURM_ARRAY_TASK_ID "
                          "of N; writes a partial CSV and a sidecar for merge (under torchrun the ranks shard by "
                          "themselves)")
    thresholds = add_config(add("tune-thresholds", cmd_tune_thresholds, "per-class thresholds from OOF"))
    thresholds.add_argument("--out", default="thresholds.json")
    tune = add_config(add("tune-ensemble", cmd_tune_ensemble,
                          "per-class member weights and thresholds from OOF, cross-validated"))
    tune.add_argument("--out", default="ensemble_weights.json")
    pseudo = add_config(add("pseudo-label", cmd_pseudo_label, "per fold, the vote of the members that held the "
                            "fold's validation images out, as labels in the task's layout, and splits that train on "
                            "them"))
    pseudo.add_argument("--out", required=True, help="a new folder: a data root of the task's layout")
    pseudo.add_argument("--splits", required=True, help="the folds to extend (their val lists stay)")
    add_number(pseudo, "--min-confidence", float, 0, 1, default=0.0,
               help="drop images whose mean max(p, 1-p) near the predicted foreground is below")
    pseudo.add_argument("--name", default="pseudo", help="fold k's labels are data.extra_roots key <name>-fold<k>")

    merge = add("merge", cmd_merge, "join the partial CSVs of a sharded ensemble")
    merge.add_argument("--csv", nargs="+", required=True)
    merge.add_argument("--out", required=True)
    vote = add("vote", cmd_vote, "hard-vote several submission CSVs")
    vote.add_argument("--csv", nargs="+", required=True)
    add_number(vote, "--min-votes", int, 1, MAX_COUNT, required=True, help="at most the number of CSVs")
    vote.add_argument("--out", default="vote.csv")
    vote.add_argument("--task", help="the task whose submission rules the CSVs follow (default: image_name,class,rle, "
                                     "row-major RLE from 1)")

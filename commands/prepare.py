"""The commands that prepare training: split, synth, import-weights."""
from __future__ import annotations

import argparse
from pathlib import Path

from atomic import check_target, refuse_input_as_output
from commands import MAX_COUNT, AddCommand, add_number, add_seed, add_set, add_task
from names import SplitMethod, choices


def cmd_split(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from data import get_task
    from data.splits import make_splits, write_splits

    task = get_task(args.task, args.data_root)
    cases = task.labelled_cases()
    refuse_input_as_output(args.out, task.label_folders(cases), "--out")
    check_target(Path(args.out))
    with tqdm(cases, desc="labels", unit="img", disable=args.quiet, leave=False) as bar:  # all readable, first
        for case in bar:
            task.check_case(case)
    splits = make_splits(task, args.k, args.seed, args.method, cases)
    write_splits(splits, args.out)
    sizes = ", ".join(f"{len(f.train)}/{len(f.val)}" for f in splits.folds)
    print(f"{args.out}: {splits.method}, {len(splits.folds)} folds (train/val: {sizes})")


MAX_SYNTH_SIDE, MAX_SYNTH_COUNT = 4096, 10000  # synthetic data: a 2048 px set of 29 classes fits; 100000 px would not


def cmd_synth(args: argparse.Namespace) -> None:
    from atomic import claimable_folder, mark_folder
    from configs.task import load_task_spec
    from data.synthetic import make_synthetic

    load_task_spec(args.task)  # a bad task file is one line before anything is written
    claimable_folder(args.out, "synth", "--out")
    mark_folder(args.out, "synth")

    make_synthetic(args.task, args.out, args.count, args.size, args.seed)
    print(args.out)


def cmd_import_weights(args: argparse.Namespace) -> None:
    from configs.load import config_files, load_config
    from configs.schema import MemberConfig
    from models.import_weights import import_weights

    config = load_config(args.config, MemberConfig, args.set)
    refuse_input_as_output(args.out, [args.weights, *config_files(args.config)], "--out")
    print(import_weights(Path(args.weights), config, Path(args.out)))


def register(add: AddCommand) -> None:
    split = add("split", cmd_split, "make k folds once, persisted as splits.json")
    add_task(split)
    split.add_argument("--data-root", required=True)
    add_number(split, "--k", int, 2, MAX_COUNT, default=5, help="folds (at most the patients or images)")
    add_seed(split)
    split.add_argument("--method", choices=choices(SplitMethod))
    split.add_argument("--out", default="splits.json")

    synth = add("synth", cmd_synth, "write a synthetic data set in the task's layout")
    add_task(synth)
    synth.add_argument("--out", required=True)
    add_number(synth, "--count", int, 1, MAX_SYNTH_COUNT, default=6,
               help="patients (a task drawing hands) or train images")
    add_number(synth, "--size", int, 32, MAX_SYNTH_SIDE, default=256, help="image side in pixels")
    add_seed(synth)

    weights = add("import-weights", cmd_import_weights, "map another implementation's weights onto a member's "
                  "network or encoder; write safetensors and a JSON sidecar")
    weights.add_argument("--weights", required=True, help="source state dict (.safetensors or tensors-only torch file)")
    weights.add_argument("--config", required=True, help="the member config whose network receives them")
    weights.add_argument("--out", required=True, help="FILE.safetensors (its sidecar: FILE.safetensors.json)")
    add_set(weights)

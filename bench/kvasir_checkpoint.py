"""How much of an OOF number is selection: one zoo recipe over k folds of Kvasir-SEG `train`, trained with
`train.checkpoint: last` and with `best` (the epoch that validated best on the very fold whose OOF it then
predicts), through the CLI (resumable). Per variant: the OOF Dice at 0.5, the threshold `tune-thresholds` picks on
that OOF and the OOF Dice it claims there; then each variant's k-fold vote with its tuned threshold on
`validation` (used for no choice), and `compare` of the two votes (diff = best - last).

    python bench/kvasir_checkpoint.py --recipe lite1_fpn_256 --k 3
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from cli_steps import ROOT, ensemble_config, kfold_splits, run, train_recipe, write_table

from configs.files import Thresholds, read_model
from evaluate.score import score_csv

ZOO = ROOT / "configs/kvasir/zoo"
VARIANTS = ("last", "best")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="lite1_fpn_256")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--out", default=str(ROOT / "bench_out/kvasir_checkpoint"))
    args = parser.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    splits = kfold_splits(data / "train", out, args.k)
    rows, csvs = [], {}
    for variant in VARIANTS:
        folders = train_recipe(ZOO / f"{args.recipe}.yaml", data / "train", splits, out / variant, range(args.k),
                               [f"train.checkpoint={variant}"])
        members = [str(folders[0].parent / "fold*")]
        thresholds = out / f"thresholds_{variant}.json"
        if not thresholds.is_file():
            run("tune-thresholds", "--config", ensemble_config(out, f"tune-{variant}", members, "none",
                                                                data / "validation"), "--out", thresholds)
        tuned = read_model(thresholds, Thresholds, "thresholds")
        csvs[variant] = out / "csv" / f"vote-{variant}.csv"
        if not csvs[variant].is_file():
            run("ensemble", "--config", ensemble_config(out, f"vote-{variant}", members, "none", data / "validation",
                                                        thresholds=str(thresholds)))
        report = score_csv("kvasir", csvs[variant], data / "validation", quiet=True)
        rows.append({"checkpoint": variant, "oof_images": tuned.oof_images,
                     "oof_dice_at_0.5": round(tuned.oof_dice_default, 4),
                     "tuned_threshold": tuned.thresholds["polyp"], "oof_dice_tuned": round(tuned.oof_dice_tuned, 4),
                     "validation_dice": round(report.mean_dice, 4)})
        print(json.dumps(rows[-1]), flush=True)
    write_table(out / "table.csv", rows)
    table = out / "compare_best_vs_last.csv"
    if not table.is_file():
        run("compare", "--task", "kvasir", "--data-root", data / "validation", "--csv", csvs["last"], csvs["best"],
            "--out", table)
    with open(table, newline="") as handle:
        print(json.dumps(next(csv.DictReader(handle))))


if __name__ == "__main__":
    main()

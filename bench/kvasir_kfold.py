"""The k-fold, two-recipe ensemble on real Kvasir-SEG, end to end through the CLI (resumable: rerun the
same command and finished steps are skipped).

1. 5 seeded folds over Kvasir `train` (800 images); both pretrained recipes trained on every fold
   (10 members, each with its OOF probabilities).
2. `tune-thresholds` and `tune-ensemble` on the members' OOF (train images only).
3. On `validation` (100 images, used for no choice): every member, each recipe's 5-fold vote, the uniform
   10-member vote, the uniform vote at the OOF-tuned thresholds and the tuned (per-class weights) vote, each
   without and with hflip TTA. One table: Dice, IoU, recall, and the members' training minutes.

    python bench/kvasir_kfold.py                        # both recipes at their own epochs
    python bench/kvasir_kfold.py --set train.epochs=4   # shorter members (the README table's setting)
"""
from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

from cli_steps import ROOT, ensemble_config, kfold_splits, run, train_recipe, training_minutes, write_table

from evaluate.score import score_csv

RECIPES = ("lite0_unet", "lite0_effisegnet")
TTAS = ("none", "hflip")


def train_members(data: Path, out: Path, k: int, overrides: list[str]) -> dict[str, list[Path]]:
    """Recipe -> its fold folders, every fold trained (or continued) to the end."""
    splits = kfold_splits(data / "train", out, k)
    return {recipe: train_recipe(ROOT / f"configs/kvasir/{recipe}.yaml", data / "train", splits, out / recipe, range(k),
                                 overrides) for recipe in RECIPES}


def tune(out: Path, members: list[str], data: Path) -> tuple[Path, Path]:
    """thresholds.json and ensemble_weights.json from the 10 members' OOF (recipes as entries)."""
    config = ensemble_config(out, "tuning", members, "none", data / "validation")
    thresholds, weights = out / "thresholds.json", out / "ensemble_weights.json"
    if not thresholds.is_file():
        run("tune-thresholds", "--config", config, "--out", thresholds)
    if not weights.is_file():
        run("tune-ensemble", "--config", config, "--out", weights)
    return thresholds, weights


def evaluations(folders: dict[str, list[Path]], thresholds: Path, weights: Path
                ) -> list[tuple[str, list[str], dict]]:
    """(row name, member entries, extra ensemble keys) of every row of the table."""
    rows = [(f"{recipe} fold {index}", [str(folder)], {})
            for recipe, recipe_folders in folders.items() for index, folder in enumerate(recipe_folders)]
    globs = [str(recipe_folders[0].parent / "fold*") for recipe_folders in folders.values()]
    rows += [(f"{recipe} {len(recipe_folders)}-fold vote", [pattern], {})
             for (recipe, recipe_folders), pattern in zip(folders.items(), globs)]
    rows += [("uniform 10-member vote", globs, {}),
             ("uniform vote, OOF thresholds", globs, {"thresholds": str(thresholds)}),
             ("tuned vote (tune-ensemble)", globs, {"weights": str(weights)})]
    return rows


def score_rows(out: Path, data: Path, folders: dict[str, list[Path]], thresholds: Path, weights: Path
               ) -> list[dict]:
    table = []
    for name, members, keys in evaluations(folders, thresholds, weights):
        row = {"entry": name}
        for tta in TTAS:
            label = f"{name.replace(' ', '_').replace(',', '').replace('(', '').replace(')', '')}-{tta}"
            config = ensemble_config(out, label, members, tta, data / "validation", **keys)
            csv_path = out / "csv" / f"{label}.csv"
            if not csv_path.is_file():
                run("ensemble", "--config", config)
            report = score_csv("kvasir", csv_path, data / "validation", quiet=True)
            suffix = "" if tta == "none" else "_hflip"
            row.update({f"dice{suffix}": round(report.mean_dice, 4), f"iou{suffix}": round(float(report.iou.mean()), 4),
                        f"recall{suffix}": round(float(report.recall.mean()), 4)})
        runs = [Path(p) for pattern in members for p in sorted(glob.glob(pattern))]
        row["train_minutes"] = round(sum(training_minutes(p) for p in runs), 1)
        table.append(row)
        print(json.dumps(row), flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--out", default=str(ROOT / "bench_out/kvasir_kfold"))
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides for every member")
    args = parser.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    folders = train_members(data, out, args.k, args.set)
    thresholds, weights = tune(out, [str(f[0].parent / "fold*") for f in folders.values()], data)
    rows = score_rows(out, data, folders, thresholds, weights)
    write_table(out / "table.csv", rows)
    print(out / "table.csv")


if __name__ == "__main__":
    main()

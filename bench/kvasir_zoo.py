"""The zoo on real Kvasir-SEG, end to end through the CLI (resumable: rerun the same command and finished
steps are skipped). Every choice is made on folds of `train`; `validation` is scored once, at the end.

1. k seeded folds over Kvasir `train` (800 images); every zoo recipe trained on every fold, each member
   keeping its OOF probabilities.
2. `tune-ensemble` on the members' OOF (recipes as entries; the cross-validated table and the paired
   interval of tuned minus the best recipe), and the TTA set the OOF prefers: the best recipe's fold-0 member
   predicting its own held-out `train` images with each candidate set.
3. On `validation` (100 images, used for no choice): every member, each recipe's k-fold vote, the uniform
   zoo vote and the tuned zoo vote, all with that TTA; `compare` of each against the best recipe's vote and
   against the best member (both "best" by OOF Dice).

    python bench/kvasir_zoo.py                                    # every recipe in configs/kvasir/zoo, k = 3
    python bench/kvasir_zoo.py --recipes lite0_unet_224 lite2_unet_256 --k 5
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli_steps import (
    ROOT,
    ensemble_config,
    held_out_root,
    images_per_second,
    kfold_splits,
    run,
    train_recipe,
    training_minutes,
    write_table,
)

from evaluate.score import score_csv
from models.run_folder import RunFolder

ZOO = ROOT / "configs/kvasir/zoo"
TTA_CANDIDATES = ("none", "hflip", "flips")


def preferred_tta(member: Path, splits: Path, data: Path, out: Path) -> tuple[str, dict[str, float]]:
    """The TTA set whose Dice on the member's own held-out train images is highest (ties: the cheaper)."""
    fold = RunFolder(member).state().fold
    root = held_out_root(splits, data, out, fold)
    dice = {}
    for tta in TTA_CANDIDATES:
        name = f"tta_choice-{tta}"
        csv_path = out / "csv" / f"{name}.csv"
        if not csv_path.is_file():
            run("ensemble", "--config", ensemble_config(out, name, [str(member)], tta, root / "images"))
        dice[tta] = score_csv("kvasir", csv_path, root, quiet=True).mean_dice
    return max(TTA_CANDIDATES, key=lambda t: (round(dice[t], 4), -TTA_CANDIDATES.index(t))), dice


def oof_table(out: Path, data: Path, recipes: dict[str, list[Path]]) -> Path:
    """ensemble_weights.json from every recipe's OOF (one entry per recipe); its `_cv.csv` beside it."""
    config = ensemble_config(out, "tuning", [str(f[0].parent / "fold*") for f in recipes.values()], "none", data)
    weights = out / "ensemble_weights.json"
    if not weights.is_file():
        run("tune-ensemble", "--config", config, "--out", weights)
    return weights


def validation_rows(recipes: dict[str, list[Path]], weights: Path) -> list[tuple[str, list[str], dict, list[Path]]]:
    """(row name, member entries, extra ensemble keys, the run folders it uses) of every scored row."""
    rows = [(f"{recipe}-fold{i}", [str(folder)], {}, [folder]) for recipe, folders in recipes.items()
            for i, folder in enumerate(folders)]
    rows += [(f"{recipe}-vote", [str(folders[0].parent / "fold*")], {}, folders) for recipe, folders in recipes.items()]
    globs = [str(folders[0].parent / "fold*") for folders in recipes.values()]
    everything = [f for folders in recipes.values() for f in folders]
    rows += [("zoo-uniform-vote", globs, {}, everything),
             ("zoo-tuned-vote", globs, {"weights": str(weights)}, everything)]
    return rows


def score_validation(out: Path, data: Path, recipes: dict[str, list[Path]], weights: Path, tta: str) -> list[dict]:
    table = []
    for name, members, keys, folders in validation_rows(recipes, weights):
        csv_path = out / "csv" / f"{name}.csv"
        if not csv_path.is_file():
            run("ensemble", "--config", ensemble_config(out, name, members, tta, data / "validation", **keys))
        report = score_csv("kvasir", csv_path, data / "validation", quiet=True)
        table.append({"entry": name, "tta": tta, "dice": round(report.mean_dice, 4),
                      "iou": round(float(report.iou.mean()), 4), "recall": round(float(report.recall.mean()), 4),
                      "train_minutes": round(sum(training_minutes(f) for f in folders), 1)})
        print(json.dumps(table[-1]), flush=True)
    return table


def recipe_rows(recipes: dict[str, list[Path]]) -> list[dict]:
    """Per recipe: OOF Dice over all train images (each from the fold that held it out), images/s, minutes."""
    rows = []
    for recipe, folders in recipes.items():
        states = [RunFolder(f).state() for f in folders]
        oof = sum(s.kept_dice * len(s.val_cases) for s in states) / sum(len(s.val_cases) for s in states)
        rows.append({"recipe": recipe, "oof_dice": round(oof, 4),
                     "images_per_s": round(sorted(map(images_per_second, folders))[len(folders) // 2], 2),
                     "minutes_per_fold": round(sum(map(training_minutes, folders)) / len(folders), 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def compare_against(out: Path, data: Path, reference: str, names: list[str], label: str) -> None:
    csvs = [out / "csv" / f"{n}.csv" for n in [reference, *(n for n in names if n != reference)]]
    run("compare", "--task", "kvasir", "--data-root", data / "validation", "--csv", *csvs,
        "--out", out / f"compare_vs_{label}.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--out", default=str(ROOT / "bench_out/kvasir_zoo"))
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--recipes", nargs="+", default=sorted(p.stem for p in ZOO.glob("*.yaml")))
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides for every member")
    parser.add_argument("--train-only", action="store_true", help="stop after training the folds")
    args = parser.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    splits = kfold_splits(data / "train", out, args.k)
    recipes = {r: train_recipe(ZOO / f"{r}.yaml", data / "train", splits, out / r, range(args.k), args.set)
               for r in args.recipes}
    if args.train_only:
        return
    weights = oof_table(out, data / "validation", recipes)
    per_recipe = recipe_rows(recipes)
    write_table(out / "recipes.csv", per_recipe)
    best_recipe = max(per_recipe, key=lambda r: r["oof_dice"])["recipe"]
    best_member = max(recipes[best_recipe], key=lambda f: RunFolder(f).state().kept_dice)
    tta, tta_dice = preferred_tta(best_member, splits, data / "train", out)
    print(json.dumps({"tta": tta, "held_out_dice": tta_dice}), flush=True)
    rows = score_validation(out, data, recipes, weights, tta)
    write_table(out / "table.csv", rows)
    names = [row["entry"] for row in rows]
    compare_against(out, data, f"{best_recipe}-vote", names, "best_recipe_vote")
    compare_against(out, data, f"{best_recipe}-fold{recipes[best_recipe].index(best_member)}", names, "best_member")
    print(out / "table.csv")


if __name__ == "__main__":
    main()

"""Tuning a zoo recipe on folds of Kvasir `train` (never on `validation`), through the CLI (resumable).

Every variant is the base recipe plus `--set` overrides, trained on the same folds of the same seeded
k-fold split as `bench/kvasir_zoo.py`. Each trained member predicts its own held-out `train` images (no
TTA) through `ensemble`, and `compare` sets every variant against the base recipe with the paired
bootstrap over those images: the difference and its 95% interval decide, not one number. Prints one row
per variant (held-out Dice, training minutes, images/s) and writes `variants.csv` and `compare.csv`.

    python bench/kvasir_tuning.py                                   # lite2_unet_256, fold 0, every variant
    python bench/kvasir_tuning.py --variants base lr_1e-3 ema --folds 0 1
"""
from __future__ import annotations

import argparse
import json
import os
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

import atomic
from evaluate.score import score_csv

# the official EffiSegNet augmentation limits (configs/schema.py AugmentConfig), at the base's probabilities
PAPER_AUGMENT = ["augment.affine_scale=[0.5, 1.5]", "augment.affine_translate=0.125", "augment.affine_rotate=90",
                 "augment.jitter_brightness=[0.6, 1.6]", "augment.jitter_contrast=0.2",
                 "augment.jitter_saturation=0.1", "augment.jitter_hue=0.01"]
VARIANTS: dict[str, list[str]] = {
    "base": [],
    "lr_1e-3": ["optim.lr=1.0e-3"],
    "lr_2e-4": ["optim.lr=2.0e-4"],
    "ema": ["train.ema_decay=0.99"],
    "dice_focal": ["train.loss={dice: 1.0, focal: 1.0}"],
    "dice_focal_ema": ["train.loss={dice: 1.0, focal: 1.0}", "train.ema_decay=0.99"],
    "near_pixel": ["train.loss={dice_ce: 1.0, near_pixel: 0.5}"],
    "paper_augment": PAPER_AUGMENT,
    "epochs_10": ["train.epochs=10"],
    "px_320": ["data.image_size=320"],
}


def held_out_csv(out: Path, name: str, member: Path, root: Path) -> Path:
    """The member's prediction of its fold's held-out train images (no TTA)."""
    csv_path = out / "csv" / f"{name}.csv"
    if not csv_path.is_file():
        run("ensemble", "--config", ensemble_config(out, name, [str(member)], "none", root / "images"))
    return csv_path


def joined(out: Path, name: str, parts: list[Path]) -> Path:
    """The per-fold CSVs as one submission over every held-out image (each image from the member holding it out)."""
    lines = [parts[0].read_text().splitlines()[0]]
    lines += [line for part in parts for line in part.read_text().splitlines()[1:]]
    path = out / "csv" / f"{name}-heldout.csv"
    atomic.write_text(path, "\n".join(lines) + "\n")
    return path


def joined_root(out: Path, roots: list[Path]) -> Path:
    """One Kvasir root of symlinks over every listed fold's held-out images."""
    root = out / ("heldout_" + "_".join(r.name.removesuffix("_heldout") for r in roots))
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for link in (link for r in roots for link in (r / sub).iterdir()):
            if not (root / sub / link.name).is_symlink():
                os.symlink(os.readlink(link), root / sub / link.name)
    return root


def variant_row(name: str, folders: list[Path], csv_path: Path, root: Path) -> dict:
    score = score_csv("kvasir", csv_path, root, quiet=True)
    return {"variant": name, "held_out_images": score.images, "held_out_dice": round(score.mean_dice, 4),
            "minutes_per_fold": round(sum(map(training_minutes, folders)) / len(folders), 1),
            "images_per_s": round(sorted(map(images_per_second, folders))[len(folders) // 2], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--out", default=str(ROOT / "bench_out/kvasir_tuning"))
    parser.add_argument("--recipe", default=str(ROOT / "configs/kvasir/zoo/lite2_unet_256.yaml"))
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--folds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    data, out = Path(args.data).resolve() / "train", Path(args.out).resolve()
    splits = kfold_splits(data, out, args.k)
    roots = [held_out_root(splits, data, out, fold) for fold in args.folds]
    every = joined_root(out, roots)
    rows, csvs = [], {}
    for name in args.variants:
        folders = train_recipe(Path(args.recipe), data, splits, out / name, args.folds, VARIANTS[name])
        parts = [held_out_csv(out, f"{name}-fold{f}", folder, root)
                 for f, folder, root in zip(args.folds, folders, roots)]
        csvs[name] = joined(out, name, parts)
        rows.append(variant_row(name, folders, csvs[name], every))
        print(json.dumps(rows[-1]), flush=True)
    write_table(out / "variants.csv", rows)
    if "base" in csvs and len(csvs) > 1:
        run("compare", "--task", "kvasir", "--data-root", every, "--csv", csvs["base"],
            *(c for n, c in csvs.items() if n != "base"), "--out", out / "compare.csv")


if __name__ == "__main__":
    main()

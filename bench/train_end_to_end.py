"""`train-fold` end to end against the same network's training steps alone (DESIGN.md: >= 0.85x).

For each recipe, train-fold's own FoldTrainer (cached images, augmentation, the DataLoader, the step, the
progress bar; validation is not in an epoch) runs epochs over 64 real `train` images, interleaved with
`bench/cpu_precision.py`'s step on one fixed batch of the recipe's size (the same model built the same way,
the recipe's precision), 64 images per timing. Rounds alternate which goes first; the median ratio is printed.

    python bench/train_end_to_end.py                       # the budget-30 recipes and the Lite0 U-Net
    python bench/train_end_to_end.py --recipes configs/kvasir/zoo/lite2_unet_256.yaml --rounds 3
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path)
import torch
from cpu_precision import train_step
from train_throughput import IMAGES, prepare

from configs.files import Fold, Splits
from configs.load import load_config
from configs.schema import MemberConfig
from data.splits import write_splits
from folds.engine import FoldTrainer
from models.device import amp_dtype

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ("configs/kvasir/zoo/budget30/lite2_unet_256.yaml", "configs/kvasir/zoo/budget30/lite1_fpn_256.yaml",
           "configs/kvasir/zoo/lite0_unet_224.yaml")


def trainer(recipe: Path, data: Path, folder: Path) -> FoldTrainer:
    names = [f"images/{p.name}" for p in sorted((data / "images").iterdir())]
    splits = folder / "splits.json"  # an epoch trains on IMAGES images; 8 more are held out (never scored here)
    write_splits(Splits(task="kvasir", method="bench", seed=0, k=1,
                        folds=[Fold(train=names[:IMAGES], val=names[IMAGES:])]), splits)
    config = load_config(recipe, MemberConfig, [f"data.root={data}", f"data.splits={splits}",
                                                f"run.dir={folder / 'run'}", "run.tensorboard=false"])
    return FoldTrainer(config, 0, quiet=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return IMAGES / (time.perf_counter() - start)


def measure(recipe: Path, data: Path, folder: Path, rounds: int) -> float:
    engine = trainer(recipe, data, folder)
    step, batch = train_step(engine.config, compiled=False)
    precision = amp_dtype(torch.device("cpu"), engine.config.train.amp, engine.config.train.amp_dtype)

    def steps() -> None:
        for _ in range(IMAGES // batch):
            step(precision)

    engine.train_epoch()  # warm-up of both
    steps()
    ratios = []
    for index in range(rounds):
        order = [("engine", engine.train_epoch), ("steps", steps)]
        speed = dict((name, timed(fn)) for name, fn in (order if index % 2 == 0 else order[::-1]))
        ratios.append(speed["engine"] / speed["steps"])
        print(f"  {recipe.stem} round {index + 1}: train-fold {speed['engine']:.2f} img/s, steps alone "
              f"{speed['steps']:.2f} img/s, ratio {ratios[-1]:.2f}", flush=True)
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(Path(tmp), extra=8)
        for index, recipe in enumerate(map(Path, args.recipes)):
            summary.append((recipe.stem, measure(ROOT / recipe, data, Path(tmp) / f"r{index}", args.rounds)))
    print("\nmedian train-fold / steps-alone images/s (64 real images per timing)")
    for name, ratio in summary:
        print(f"  {name:28s} {ratio:.2f}x")


if __name__ == "__main__":
    main()

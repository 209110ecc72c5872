"""The augmentation-stream fix, measured: one zoo recipe over k folds of Kvasir-SEG `train` with `data.workers: 2`,
trained by the code from before the fix (a checkout given as --before, run as its own `cli.py`) and by this
checkout, on the same splits; then each variant's OOF Dice per image at 0.5 (`analyze --runs`) and the paired
bootstrap of after against before. Before the fix every DataLoader worker drew the same augmentation stream. Both
variants keep the epoch that validated best, as the old code did (`train.checkpoint: best` here).

    git worktree add ../before b498093^ && ln -s "$PWD/.venv" ../before/.venv
    python bench/kvasir_aug_streams.py --before ../before
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

from cli_steps import ROOT, kfold_splits, run

from evaluate.bootstrap import paired_bootstrap

RECIPE = "configs/kvasir/zoo/lite0_unet_224.yaml"


def train(checkout: Path, out: Path, data: Path, splits: Path, k: int, epochs: int, extra: list[str]) -> Path:
    """The recipe's k folds trained by `checkout`'s own cli.py (finished folds skipped); the run folder."""
    for fold in range(k):
        if not (out / f"fold{fold}" / "model.safetensors").is_file():
            subprocess.run([sys.executable, "cli.py", "--quiet", "train-fold", "--config", RECIPE, "--fold", str(fold),
                            "--set", f"data.root={data}", f"data.splits={splits}", f"run.dir={out}",
                            f"train.epochs={epochs}", "data.workers=2", "run.tensorboard=false", *extra],
                           cwd=checkout, check=True)
    return out


def per_image(report: Path) -> dict[str, float]:
    with open(report / "per_image.csv", newline="") as handle:
        return {row["image_name"]: float(row["mean_dice"]) for row in csv.DictReader(handle)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="a checkout of the code before the fix (b498093^)")
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--out", default=str(ROOT / "bench_out/aug_streams"))
    args = parser.parse_args()
    data, out = Path(args.data).resolve() / "train", Path(args.out).resolve()
    splits = kfold_splits(data, out, args.k)
    scores = {}
    for variant, checkout, extra in (("before", Path(args.before).resolve(), []),
                                     ("after", ROOT, ["train.checkpoint=best"])):
        runs = train(checkout, out / variant, data, splits, args.k, args.epochs, extra)
        report = out / f"report_{variant}"
        if not (report / "per_image.csv").is_file():
            run("analyze", "--task", "kvasir", "--runs", f"{runs}/fold*", "--out", report)
        scores[variant] = per_image(report)
    names = sorted(scores["before"])
    paired = paired_bootstrap([scores["before"][n] for n in names], [scores["after"][n] for n in names])
    print(f"OOF Dice at 0.5 over {paired.n} images: before {paired.mean_a:.4f}, after {paired.mean_b:.4f}, "
          f"after - before {paired.diff:+.4f} [{paired.ci_low:+.4f}, {paired.ci_high:+.4f}]")


if __name__ == "__main__":
    main()

"""Dice per CPU-minute on real Kvasir-SEG: train a member config on `train` (800 images) for a budget
of training minutes, scoring `validation` (100) at native size after every epoch, and write its
Dice-versus-minutes curve (`<out>/<label>.csv`) and one PNG with every curve in `<out>`.

The run folder keeps train-fold's resume state, so an interrupted or finished-for-now curve continues
with the same command (a larger --minutes extends it). Minutes count training only, not validation.

Recipe choices are made with `--holdout train-fold`: fold 0 of a seeded 5-fold split of `train` (640 images
to train, 160 to score), curves in `<out>/train_fold/`; `validation` is only for the final curves.

    python bench/kvasir_budget.py --config configs/kvasir/cpu_fast.yaml --minutes 50
    python bench/kvasir_budget.py --config configs/kvasir/effisegnet_b0.yaml --label official --minutes 25
"""
from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path)

import atomic
from configs.load import load_config
from configs.schema import MemberConfig
from data import get_task
from data.splits import make_splits, write_splits
from folds.engine import FoldTrainer
from folds.loggers import MetricLoggers
from models.run_folder import RESUME_FILE
from names import SplitMethod
from plots import pyplot, save_figure

ROOT = Path(__file__).resolve().parents[1]


HOLDOUTS = ("validation", "train-fold")


def holdout_data(data: Path, out: Path, holdout: str) -> tuple[Path, Path, Path]:
    """(data root, splits file, curve folder) for scoring on `validation` (the release split: train on
    all of `train`) or on fold 0 of a 5-fold split of `train` alone (for choosing a recipe)."""
    if holdout == "validation":
        root, path, method, k = data, out / "kvasir_release_splits.json", SplitMethod.RELEASE, 1
    else:
        out = out / "train_fold"
        root, path, method, k = data / "train", out / "kvasir_train_5fold.json", SplitMethod.KFOLD, 5
    if not path.is_file():
        write_splits(make_splits(get_task("kvasir", root), k=k, method=method), path)
    return root, path, out


def curve_rows(log_rows: list[dict]) -> list[dict]:
    minutes, rows = 0.0, []
    for row in log_rows:
        minutes += row["train_seconds"] / 60
        rows.append({"epoch": row["epoch"], "minutes": round(minutes, 3), "val_dice": row["val_dice"],
                     "images_per_s": row["images_per_s"]})
    return rows


def write_curve(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["epoch", "minutes", "val_dice", "images_per_s"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


def plot_curves(out: Path, scored_on: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for path in sorted(out.glob("*.csv")):
        with open(path, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["val_dice"]]
        if rows:
            ax.plot([float(r["minutes"]) for r in rows], [float(r["val_dice"]) for r in rows], marker="o",
                    markersize=3, label=path.stem)
    ax.axhline(0.85, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("training minutes (2 CPU cores)")
    ax.set_ylabel(f"Dice on {scored_on} (native size)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Kvasir-SEG on 2 CPU cores (ImageNet Lite0 recipes and cpu_fast from random init)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out / "kvasir_budget.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--minutes", type=float, required=True, help="budget of training minutes")
    parser.add_argument("--label", help="curve name (default: the config's file name)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--out", default=str(ROOT / "bench_out/kvasir_budget"))
    parser.add_argument("--holdout", choices=HOLDOUTS, default="validation",
                        help="score on `validation`, or on fold 0 of `train` to choose a recipe")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    label = args.label or Path(args.config).stem
    root, splits, out = holdout_data(Path(args.data), Path(args.out), args.holdout)
    scored_on = "validation (100 images)" if args.holdout == "validation" else "fold 0 of train (160 images)"
    config = load_config(args.config, MemberConfig, [f"data.root={root}", f"data.splits={splits}",
                                                     f"run.dir={out / label}", "train.val_every=1",
                                                     "run.tensorboard=false", *args.set])
    resume = (out / label / "fold0" / RESUME_FILE).is_file()
    trainer = FoldTrainer(config, 0, quiet=False, resume=resume)
    loggers = MetricLoggers(config.run, trainer.run.path, label, {})
    started = time.perf_counter()
    while trainer.epoch < config.train.epochs:
        if curve_rows(trainer.log_rows) and curve_rows(trainer.log_rows)[-1]["minutes"] >= args.minutes:
            break
        trainer.run_epoch(loggers)
        rows = curve_rows(trainer.log_rows)
        write_curve(out / f"{label}.csv", rows)
        plot_curves(out, scored_on)
        last = rows[-1]
        print(f"{label} epoch {last['epoch']}: {last['minutes']:.1f} training minutes, Dice "
              f"{last['val_dice']}, {last['images_per_s']} img/s", flush=True)
    loggers.close()
    print(f"{out / f'{label}.csv'}, {out / 'kvasir_budget.png'} ({(time.perf_counter() - started) / 60:.1f} min "
          f"this run, validation included)")


if __name__ == "__main__":
    main()

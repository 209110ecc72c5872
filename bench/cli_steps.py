"""Steps the real-data benches share, each through the CLI as a user runs it: split, train every fold of a
recipe (resumable), an ensemble config over run folders, training minutes, tables."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import common  # noqa: F401  (puts the project on sys.path)
import yaml

import atomic
from cli import main as cli
from models.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str) -> None:
    code = cli(["--quiet", *map(str, argv)])
    if code != 0:
        raise SystemExit(f"cli.py {' '.join(map(str, argv))} failed with exit code {code}")


def kfold_splits(data: Path, out: Path, k: int) -> Path:
    splits = out / "splits.json"
    if not splits.is_file():
        run("split", "--task", "kvasir", "--data-root", data, "--k", k, "--method", "kfold", "--out", splits)
    return splits


def train_recipe(config: Path, data: Path, splits: Path, out: Path, folds: range | list[int],
                 overrides: list[str]) -> list[Path]:
    """The given folds of one recipe trained (or continued) to the end; their fold folders."""
    folders = []
    for fold in folds:
        folder = out / f"fold{fold}"
        folders.append(folder)
        if (folder / "state.json").is_file() and RunFolder(folder).state().oof_done:
            continue
        resume = ["--resume"] if (folder / "optimizer.pt").is_file() else []
        run("train-fold", "--config", config, "--fold", fold, *resume, "--set", f"data.root={data}",
            f"data.splits={splits}", f"run.dir={out}", "run.tensorboard=false", *overrides)
    return folders


def held_out_root(splits: Path, data: Path, out: Path, fold: int) -> Path:
    """Fold `fold`'s held-out train images (and their masks) as a Kvasir root of symlinks, for choosing TTA."""
    root = out / f"fold{fold}_heldout"
    if not root.is_dir():
        cases = json.loads(splits.read_text())["folds"][fold]["val"]
        for sub in ("images", "masks"):
            (root / sub).mkdir(parents=True, exist_ok=True)
            for case in cases:
                name = Path(case).name
                os.symlink(data / sub / name, root / sub / name)
    return root


def training_minutes(folder: Path) -> float:
    with open(folder / "log.csv", newline="") as handle:
        return sum(float(row["train_seconds"]) for row in csv.DictReader(handle)) / 60


def images_per_second(folder: Path) -> float:
    """The median over epochs of train-fold's end-to-end images/s."""
    with open(folder / "log.csv", newline="") as handle:
        speeds = sorted(float(row["images_per_s"]) for row in csv.DictReader(handle))
    return speeds[len(speeds) // 2]


def ensemble_config(out: Path, name: str, members: list[str], tta: str, data: Path, **keys) -> Path:
    """An ensemble config over `members` predicting the images of `data` into `out/csv/<name>.csv`."""
    config = {"task": "kvasir", "members": [{"path": m, "tta": tta} for m in members],
              "data": {"root": str(data)}, "output": {"csv": str(out / "csv" / f"{name}.csv")},
              "cache_dir": str(out / "cache"), "batch_size": 4, **keys}
    path = out / "configs" / f"{name}.yaml"
    atomic.write_text(path, yaml.safe_dump(config, sort_keys=False))
    return path


def write_table(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())

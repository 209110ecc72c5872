"""The 30-minute CPU zoo on real Kvasir-SEG, through the CLI (resumable): each member of
`configs/kvasir/zoo/budget30/` trained on all 800 `train` images (the release split; validation scored after
each epoch), the ensemble `configs/ensemble/kvasir_zoo.yaml` and every member alone with the same TTA
predicting `validation`, then `compare` of the ensemble against each member.

    python bench/kvasir_budget30.py
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli_steps import ROOT, images_per_second, run, training_minutes, write_table

from configs.load import load_config
from configs.schema import EnsembleConfig, MemberConfig
from evaluate.score import score_csv
from models.run_folder import RunFolder

BUDGET = ROOT / "configs/kvasir/zoo/budget30"
ENSEMBLE = ROOT / "configs/ensemble/kvasir_zoo.yaml"


def train(data: Path, splits: Path) -> list[Path]:
    folders = []
    for recipe in sorted(BUDGET.glob("*.yaml")):
        folder = load_config(recipe, MemberConfig).run.dir / "fold0"
        folders.append(folder)
        if (folder / "state.json").is_file() and RunFolder(folder).state().oof_done:
            continue
        resume = ["--resume"] if (folder / "optimizer.pt").is_file() else []
        run("train-fold", "--config", recipe, "--fold", 0, *resume, "--set", f"data.root={data}",
            f"data.splits={splits}", "run.tensorboard=false")
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/kvasir-seg"))
    parser.add_argument("--out", default=str(ROOT / "bench_out/kvasir_budget30"))
    args = parser.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    splits = ROOT / "runs/kvasir_release_splits.json"
    if not splits.is_file():
        run("split", "--task", "kvasir", "--data-root", data, "--method", "release", "--out", splits)
    folders = train(data, splits)
    ensemble = load_config(ENSEMBLE, EnsembleConfig)
    tta = ensemble.member_entries()[0].tta
    csvs = {"ensemble": out / "ensemble.csv", **{f.parent.name: out / f"{f.parent.name}.csv" for f in folders}}
    for name, csv_path in csvs.items():
        if csv_path.is_file():
            continue
        members = [{"path": str(f), "tta": tta} for f in folders if name in ("ensemble", f.parent.name)]
        run("ensemble", "--config", ENSEMBLE, "--set", f"members={json.dumps(members)}",
            f"data.root={data / 'validation'}", f"output.csv={csv_path}")
    rows = []
    for name, csv_path in csvs.items():
        used = folders if name == "ensemble" else [f for f in folders if f.parent.name == name]
        report = score_csv("kvasir", csv_path, data / "validation", quiet=True)
        rows.append({"entry": name, "tta": tta, "dice": round(report.mean_dice, 4),
                     "iou": round(float(report.iou.mean()), 4),
                     "train_minutes": round(sum(map(training_minutes, used)), 1),
                     "images_per_s": round(min(map(images_per_second, used)), 2)})
        print(json.dumps(rows[-1]), flush=True)
    write_table(out / "table.csv", rows)
    for member in folders:  # diff = ensemble - member
        run("compare", "--task", "kvasir", "--data-root", data / "validation", "--csv", csvs[member.parent.name],
            csvs["ensemble"], "--out", out / f"compare_{member.parent.name}.csv")
    print(out / "table.csv")


if __name__ == "__main__":
    main()

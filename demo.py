"""`demo`: synthetic hand-bone data -> split -> 2 folds of each family (UNet++, EffiSegNet, SwinUNETR,
YOLOv8-seg) -> ensemble (uniform, and tuned per class by tune-ensemble) -> validate -> score -> analyze
reports."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import atomic
from configs.load import load_config, read_raw
from configs.schema import EnsembleConfig, MemberConfig
from data import get_task
from data.splits import make_splits, write_splits
from data.synthetic import make_handbone, make_handbone_holdout
from ensemble.run import run_ensemble
from ensemble.tune import tune_ensemble
from evaluate.score import score_csv
from folds.train import train_fold
from report.analyze import analyze
from submit.validate import validate_csv

CONFIGS = Path(__file__).resolve().parent / "configs"
ENSEMBLE = CONFIGS / "ensemble/handbone.yaml"
MEMBERS = ("handbone/tiny.yaml", "handbone/tiny_effisegnet.yaml", "handbone/tiny_swinunetr.yaml",
           "handbone/tiny_yolo.yaml")
FOLDS = 2


def demo_task() -> str:
    """The task the demo's ensemble config names."""
    return read_raw(ENSEMBLE)["task"]


def make_demo_data(workdir: Path) -> tuple[Path, Path]:
    """A labelled training set and a labelled holdout whose images also sit in its test/DCM."""
    data = make_handbone(workdir / "handbone_data", patients=6, test_patients=0, size=256, seed=0)
    return data, make_handbone_holdout(workdir / "handbone_holdout", patients=2, size=256, seed=1)


def ensemble_config(workdir: Path, holdout: Path, members: list[str], csv: Path, *extra: str) -> EnsembleConfig:
    return load_config(ENSEMBLE, EnsembleConfig,
                       [f"members={members}", f"data.root={holdout}", f"output.csv={csv}",
                        f"cache_dir={workdir / 'probability_cache'}", *extra])


def ensemble_score(workdir: Path, holdout: Path, members: list[str], csv: Path, quiet: bool, *extra: str) -> float:
    run_ensemble(ensemble_config(workdir, holdout, members, csv, *extra), quiet=quiet)
    validate_csv(demo_task(), csv, holdout)
    return score_csv(demo_task(), csv, holdout, quiet=True).mean_dice


def fresh_workdir(workdir: Path) -> None:
    """Empty `workdir` if the demo made it (its marker is there); refuse any other existing, non-empty folder."""
    if atomic.claimable_folder(workdir, "demo", "--workdir"):
        shutil.rmtree(workdir)
    atomic.mark_folder(workdir, "demo")


def run_demo(workdir: Path, quiet: bool = False) -> None:
    started = time.perf_counter()
    fresh_workdir(workdir)
    data, holdout = make_demo_data(workdir)
    splits = workdir / "handbone_splits.json"
    write_splits(make_splits(get_task(demo_task(), data), k=FOLDS), splits)
    print(f"data: {data} (12 hands, 6 patients), holdout: {holdout} (4 hands), {FOLDS} folds by patient")
    rows, run_globs, solo_csvs = [], [], []
    for member in MEMBERS:
        name = f"handbone_{Path(member).stem}"
        config = load_config(CONFIGS / member, MemberConfig,
                             [f"data.root={data}", f"data.splits={splits}", f"run.dir={workdir / name}"])
        for fold in range(FOLDS):
            t0 = time.perf_counter()
            result = train_fold(config, fold, quiet=quiet)
            solo_csvs.append(workdir / f"{name}_fold{fold}.csv")
            solo = ensemble_score(workdir, holdout, [str(result.run_dir)], solo_csvs[-1], quiet)
            rows.append((f"{config.model.name} fold{fold}", result.kept_dice, solo, time.perf_counter() - t0))
        run_globs.append(str(workdir / name / "fold*"))
    t0 = time.perf_counter()
    csv = workdir / "handbone_submission.csv"
    dice = ensemble_score(workdir, holdout, run_globs, csv, quiet)
    rows.append((f"ensemble ({len(rows)} members)", None, dice, time.perf_counter() - t0))
    t0 = time.perf_counter()
    weights = workdir / "handbone_ensemble_weights.json"
    tuning = tune_ensemble(ensemble_config(workdir, holdout, run_globs, csv), weights, quiet=quiet)
    tuned_csv = workdir / "handbone_submission_tuned.csv"
    tuned = ensemble_score(workdir, holdout, run_globs, tuned_csv, quiet, f"weights={weights}")
    rows.append(("ensemble, tune-ensemble", None, tuned, time.perf_counter() - t0))
    print(f"\ntune-ensemble, cross-validated OOF Dice over the {FOLDS} folds:\n{tuning.table()}")
    print(f"\n{'member':<28} {'val Dice':>9} {'holdout Dice':>13} {'seconds':>8}")
    for label, val, hold, seconds in rows:
        print(f"{label:<28} {'-' if val is None else f'{val:.4f}':>9} {hold:13.4f} {seconds:8.1f}")
    holdout_report = analyze(demo_task(), workdir / "report_holdout", [tuned_csv, csv, *solo_csvs],
                             data_root=str(holdout), quiet=quiet)
    oof_report = analyze(demo_task(), workdir / "report_oof", runs=run_globs, quiet=quiet)
    print(f"\nreports: {holdout_report / 'index.html'} (holdout: tuned ensemble against the uniform one and each "
          f"member), {oof_report / 'index.html'} (members' OOF, training curves)")
    print(f"\nsubmissions: {csv}, {tuned_csv} (validated)   total {time.perf_counter() - started:.0f} s")

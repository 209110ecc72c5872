"""Two folds of a tiny member on synthetic hand-bone data -> ensemble -> validate -> score; thresholds."""
import json
from pathlib import Path

import numpy as np
import pytest

from configs.load import load_config
from configs.schema import EnsembleConfig, MemberConfig
from data import get_task
from data.splits import make_splits, write_splits
from data.synthetic import make_handbone, make_handbone_holdout
from ensemble.run import run_ensemble
from ensemble.tune import tune_thresholds
from evaluate.score import score_csv
from folds.train import train_fold
from submit.validate import validate_csv

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two folds of the tiny UNet++ member, and a labelled holdout whose images are its test set."""
    work = tmp_path_factory.mktemp("e2e")
    data = make_handbone(work / "data", patients=4, test_patients=0, size=128, seed=3)
    holdout = make_handbone_holdout(work / "holdout", patients=1, size=128, seed=4)
    splits = work / "splits.json"
    write_splits(make_splits(get_task("handbone", data), k=2), splits)
    config = load_config(ROOT / "configs/handbone/tiny.yaml", MemberConfig,
                         [f"data.root={data}", f"data.splits={splits}", f"run.dir={work / 'runs'}",
                          "train.epochs=30", "train.val_every=30"])
    for fold in range(2):
        train_fold(config, fold, quiet=True)
    return work, holdout


def ensemble(work: Path, holdout: Path, members: str, csv: str, *overrides: str) -> Path:
    config = load_config(ROOT / "configs/ensemble/handbone.yaml", EnsembleConfig,
                         [f"members=[{members}]", f"data.root={holdout}", f"output.csv={work / csv}", *overrides])
    return run_ensemble(config, quiet=True)


def test_ensemble_validates_scores_above_chance_and_beats_the_weaker_fold(trained, run_cli):
    work, holdout = trained
    fold_scores = []
    for fold in range(2):
        csv = ensemble(work, holdout, str(work / "runs" / f"fold{fold}"), f"fold{fold}.csv")
        fold_scores.append(score_csv("handbone", csv, holdout, quiet=True).mean_dice)
    csv = ensemble(work, holdout, str(work / "runs" / "fold*"), "both.csv")
    code, out, _ = run_cli("validate", "--task", "handbone", "--csv", csv, "--images", holdout)
    assert code == 0 and "valid (2 images)" in out
    both = score_csv("handbone", csv, holdout, quiet=True).mean_dice
    assert min(fold_scores) > 0.1  # empty or random masks score about 0.005
    assert both >= min(fold_scores)


def test_tuned_thresholds_never_score_below_default_on_oof(trained, tmp_path):
    work, holdout = trained
    config = load_config(ROOT / "configs/ensemble/handbone.yaml", EnsembleConfig,
                         [f"members=[{work / 'runs' / 'fold*'}]", f"data.root={holdout}"])
    out = tune_thresholds(config, tmp_path / "thresholds.json", quiet=True)
    result = json.loads(out.read_text())
    assert result["oof_images"] == 8 and set(result["thresholds"]) == set(get_task("handbone", holdout).classes)
    assert result["oof_dice_tuned"] >= result["oof_dice_default"]
    # recompute the OOF Dice of both settings independently of the tuner's tables
    task = get_task("handbone", json.loads((work / "runs" / "fold0" / "state.json").read_text())["config"]["data"]["root"])
    tuned = np.array([result["thresholds"][c] for c in task.classes])[:, None, None]
    scores = {"default": [], "tuned": []}
    for fold in range(2):
        for oof in sorted((work / "runs" / f"fold{fold}" / "oof").iterdir()):
            case = next(c for c in task.labelled_cases() if Path(c).name == oof.name[:-4])
            truth, probs = task.read_mask(case), np.load(oof).astype(np.float32)
            for key, threshold in (("default", 0.5), ("tuned", tuned)):
                pred = probs > threshold
                tp = (pred & truth).sum((1, 2))
                scores[key].append((2 * tp + 1e-4) / (pred.sum((1, 2)) + truth.sum((1, 2)) + 1e-4))
    assert np.mean(scores["tuned"]) >= np.mean(scores["default"]) - 1e-9
    assert np.mean(scores["tuned"]) == pytest.approx(result["oof_dice_tuned"], abs=1e-6)
    csv = ensemble(work, holdout, str(work / "runs" / "fold*"), "tuned.csv", f"thresholds={out}")
    validate_csv("handbone", csv, holdout)

"""tune-ensemble: class-wise greedy selection on hand-built OOF maps, its honesty, and the weights file
round-tripping through `ensemble`."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from data import get_task
from data.splits import make_splits
from evaluate.counts import COMPETITION_EPS
from models.run_folder import RunFolder
from submit.rle import decode
from submit.submission import read_submission
from tests.stubs import make_stub_run
from tests.test_ensemble import reference_probs
from tests.test_postprocess import reference_postprocess

CANDIDATES = np.round(np.arange(0.05, 0.96, 0.05), 2)  # the thresholds the tuner may pick


def hand_built_oof(truth: np.ndarray, right_on: int, rng: np.random.Generator) -> np.ndarray:
    """Right, with noise, on class `right_on`; elsewhere the truth shifted (each member its own way) and noisier."""
    shifted = np.roll(truth, 5, axis=2 - right_on)
    probs = np.where(shifted, 0.7, 0.3) + rng.normal(0, 0.2, truth.shape)
    probs[right_on] = np.where(truth[right_on], 0.8, 0.2) + rng.normal(0, 0.2, truth.shape[1:])
    return np.clip(probs, 0, 1).astype(np.float16)


@pytest.fixture(scope="module")
def oof_runs(handbone_root, tmp_path_factory):
    """Two entries x 2 folds of FixedLogits members whose OOF files are hand-built: A right on class 0, B on 1."""
    work = tmp_path_factory.mktemp("selection")
    task = get_task("handbone", handbone_root)
    splits = make_splits(task, k=2)
    rng = np.random.default_rng(5)
    for entry, (member, right_on) in enumerate((("a", 0), ("b", 1))):
        for fold, split in enumerate(splits.folds):
            path = work / member / f"fold{fold}"
            make_stub_run(path, "handbone", task.classes, size=128, seed=10 * entry + fold)  # the images' size
            run = RunFolder(path)
            state = run.state()
            state.config.data.root = handbone_root
            run.write_state(state.model_copy(update={"fold": fold, "val_cases": split.val, "oof_done": True}))
            for case in split.val:
                run.write_oof(Path(case).name, hand_built_oof(task.read_mask(case), right_on, rng))
    config = {"task": "handbone", "members": [str(work / "a" / "fold*"), str(work / "b" / "fold*")],
              "data": {"root": str(handbone_root)}, "output": {"csv": str(work / "sub.csv")}}
    (work / "ensemble.yaml").write_text(yaml.safe_dump(config))
    return work, task, splits


@pytest.fixture(scope="module")
def tuned(oof_runs, tmp_path_factory):
    from cli import main

    work, _, _ = oof_runs
    out = work / "weights.json"
    assert main(["--quiet", "tune-ensemble", "--config", str(work / "ensemble.yaml"), "--out", str(out)]) == 0
    return json.loads(out.read_text()), out


def image_dice(probs: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    """The competition's per-image Dice, written out plainly."""
    predicted = probs > threshold
    overlap = np.logical_and(predicted, truth).sum()
    return (2 * overlap + COMPETITION_EPS) / (predicted.sum() + truth.sum() + COMPETITION_EPS)


def oof_dice(work: Path, task, weights: dict[str, float], channel: int, threshold: float,
             cases: list[str] | None = None) -> float:
    """Mean over OOF images of the Dice of the weighted vote, recomputed from the files."""
    cases = cases or task.labelled_cases()
    scores = []
    for case in cases:
        name = Path(case).name
        vote = sum(w * np.load(next((work / m).glob(f"fold*/oof/{name}.npy")))[channel].astype(np.float32)
                   for m, w in weights.items()) / sum(weights.values())
        scores.append(image_dice(vote, task.read_mask(case)[channel], threshold))
    return float(np.mean(scores))


def test_selection_picks_the_member_that_is_right_on_each_class(tuned, oof_runs):
    weights, _ = tuned
    work, task, _ = oof_runs
    a, b = (str(work / m / "fold*") for m in "ab")
    assert weights["members"] == [a, b]
    assert weights["weights"][task.classes[0]] == {a: 1.0, b: 0.0}
    assert weights["weights"][task.classes[1]] == {a: 0.0, b: 1.0}
    for c in task.classes:
        assert sum(weights["weights"][c].values()) == pytest.approx(1.0, abs=1e-5)
        assert weights["thresholds"][c] in CANDIDATES


def test_tuned_oof_dice_is_never_below_the_best_single_member(tuned, oof_runs):
    """Recomputed from the OOF files: the tuned vote at its threshold against every member at every threshold."""
    weights, _ = tuned
    work, task, _ = oof_runs
    tuned_scores, best_scores = [], []
    for channel in range(0, len(task.classes), 4):  # every 4th class keeps the test short
        name = task.classes[channel]
        chosen = {Path(m).parent.name: w for m, w in weights["weights"][name].items() if w > 0}
        tuned_dice = oof_dice(work, task, chosen, channel, weights["thresholds"][name])
        best = max(oof_dice(work, task, {m: 1.0}, channel, t) for m in "ab" for t in (0.3, 0.5, 0.7))
        assert tuned_dice >= best - 1e-6, name
        tuned_scores.append(tuned_dice)
        best_scores.append(best)
    # the table's selection Dice are the same numbers
    rows = {r["class"]: r for r in csv.DictReader(open(work / "weights_cv.csv"))}
    for channel, value in zip(range(0, len(task.classes), 4), tuned_scores):
        assert float(rows[task.classes[channel]]["selection_tuned"]) == pytest.approx(value, abs=1e-4)


def test_cross_validated_table_scores_each_fold_with_a_choice_made_on_the_other(tuned, oof_runs):
    """Class 0 by hand: the member chosen on one fold's images, scored on the other fold's."""
    weights, out = tuned
    work, task, splits = oof_runs
    rows = {r["class"]: r for r in csv.DictReader(open(out.with_name("weights_cv.csv")))}
    assert set(rows) == set(task.classes) | {"mean"}
    name = task.classes[0]
    held_out = []
    for fold, split in enumerate(splits.folds):
        select = [c for c in task.labelled_cases() if c not in split.val]
        threshold = max(CANDIDATES, key=lambda t: (oof_dice(work, task, {"a": 1.0}, 0, t, select), t == 0.5))
        held_out += [oof_dice(work, task, {"a": 1.0}, 0, threshold, [case]) for case in split.val]
    assert np.mean(held_out) < 0.999  # not trivially perfect
    assert float(rows[name]["best_member"]) == pytest.approx(np.mean(held_out), abs=1e-4)
    means = {k: np.mean([float(r[k]) for c, r in rows.items() if c != "mean"]) for k in ("best_member", "tuned")}
    assert float(rows["mean"]["tuned"]) == pytest.approx(means["tuned"], abs=1e-5)
    assert weights["cv_dice_tuned"] == pytest.approx(means["tuned"], abs=1e-5)


def test_weights_file_round_trips_through_the_ensemble(tuned, oof_runs, run_cli):
    """The CSV equals the per-class weighted vote of the members' known probabilities, at the file's thresholds."""
    weights, out = tuned
    work, task, _ = oof_runs
    csv_path = work / "weighted.csv"
    code, _, err = run_cli("--quiet", "ensemble", "--config", work / "ensemble.yaml",
                           "--set", f"weights={out}", f"output.csv={csv_path}", "thresholds=0.9")
    assert code == 0, err
    assert "ignored" in err and len(err.strip().splitlines()) == 1
    from models import build_model

    probs = {}
    for member in "ab":
        folds = []
        for path in sorted((work / member).glob("fold*")):
            model = build_model(RunFolder(path).state().config.model, len(task.classes), False)
            RunFolder(path).load_weights(model)
            folds.append(reference_probs(model, (128, 128)))
        probs[str(work / member / "fold*")] = np.mean(folds, 0)
    rows = read_submission(csv_path)
    assert len(rows) == len(task.test_images()) * len(task.classes)
    checked = 0
    for row in rows[:len(task.classes)]:
        channel = task.classes.index(row.class_name)
        w = weights["weights"][row.class_name]
        expected = sum(w[m] * probs[m][channel] for m in w) / sum(w.values())
        threshold = weights["thresholds"][row.class_name]
        sure = np.abs(expected - threshold) > 1e-4
        mask = decode(row.rle, (128, 128))
        step = weights.get("postprocess", {}).get(row.class_name, {"step": "none"})
        np.testing.assert_array_equal(mask[sure], reference_postprocess(expected > threshold, step)[sure])
        checked += sure.sum()
    assert checked > 0.999 * len(task.classes) * 128 * 128
    # class 0 is member A's alone: B's different probabilities do not leak in
    a_only = probs[str(work / "a" / "fold*")][0] > weights["thresholds"][task.classes[0]]
    b_only = probs[str(work / "b" / "fold*")][0] > weights["thresholds"][task.classes[0]]
    assert (a_only != b_only).mean() > 0.01
    step = weights.get("postprocess", {}).get(task.classes[0], {"step": "none"})
    np.testing.assert_array_equal(decode(rows[0].rle, (128, 128)), reference_postprocess(a_only, step))


def test_weights_file_of_other_members_or_bad_values_is_one_line(tuned, oof_runs, run_cli, tmp_path):
    weights, out = tuned
    work, task, _ = oof_runs
    other = dict(weights, members=[weights["members"][0]])
    negative = json.loads(json.dumps(weights))
    negative["weights"][task.classes[3]][weights["members"][0]] = -1
    for label, document, message in (("other", other, "other members"), ("negative", negative, "Input should be greater than or equal to 0")):
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps(document))
        code, _, err = run_cli("--quiet", "ensemble", "--config", work / "ensemble.yaml", "--set", f"weights={path}",
                               f"output.csv={tmp_path / 'x.csv'}")
        assert code == 2 and message in err and str(path) in err
        assert len(err.strip().splitlines()) == 1  # the error alone: the notice comes only after success
        assert not (tmp_path / "x.csv").exists()


def test_tune_ensemble_needs_two_folds(oof_runs, run_cli, tmp_path):
    work, _, _ = oof_runs
    code, _, err = run_cli("--quiet", "tune-ensemble", "--config", work / "ensemble.yaml",
                           "--set", f"members=[{work / 'a' / 'fold0'}, {work / 'b' / 'fold0'}]",
                           "--out", tmp_path / "w.json")
    assert code == 2 and "2 folds" in err and len(err.strip().splitlines()) == 1


def test_the_cv_gain_is_the_paired_difference_of_the_table(tuned):
    """The weights file's gain of tuned over the best member: the table's difference of means, an interval around
    it, and the images it won and lost."""
    weights, _ = tuned
    gain = weights["cv_gain_over_best_member"]
    assert gain["diff"] == pytest.approx(weights["cv_dice_tuned"] - weights["cv_dice_best_member"], abs=1e-9)
    assert gain["ci_low"] <= gain["diff"] <= gain["ci_high"] and gain["n"] == 8
    assert gain["wins_a"] + gain["wins_b"] + gain["ties"] == 8
    assert gain["diff"] > 0 and gain["wins_b"] > gain["wins_a"]  # A and B are each right on their own class


def test_a_run_whose_oof_is_incomplete_is_refused_by_every_oof_reader(oof_runs, tmp_path, run_cli):
    """A fold stopped before train-fold wrote all of its OOF (`oof_done` false): tune-* and analyze refuse it."""
    import shutil

    work, task, _ = oof_runs
    shutil.copytree(work / "a", tmp_path / "a")
    run = RunFolder(tmp_path / "a" / "fold1")
    run.write_state(run.state().model_copy(update={"oof_done": False}))
    config = yaml.safe_load((work / "ensemble.yaml").read_text())
    config["members"] = [str(tmp_path / "a" / "fold*"), str(work / "b" / "fold*")]
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(config))
    for argv in (("tune-ensemble", "--config", tmp_path / "e.yaml", "--out", tmp_path / "w.json"),
                 ("tune-thresholds", "--config", tmp_path / "e.yaml", "--out", tmp_path / "t.json"),
                 ("analyze", "--task", "handbone", "--runs", tmp_path / "a" / "fold*", "--data-root", task.root,
                  "--out", tmp_path / "report")):
        code, _, err = run_cli("--quiet", *argv)
        assert code == 2 and "fold1 has no complete OOF" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w.json").exists() and not (tmp_path / "report").exists()


@pytest.mark.parametrize("bad", ["objects", "wrong shape"])
def test_an_oof_file_that_is_not_a_float_array_is_one_line(bad, oof_runs, tmp_path, run_cli):
    import shutil

    work, _, _ = oof_runs
    shutil.copytree(work / "a", tmp_path / "a")
    victim = sorted((tmp_path / "a" / "fold0" / "oof").iterdir())[0]
    if bad == "objects":
        np.save(victim, np.array([{"not": "probabilities"}], dtype=object), allow_pickle=True)
    else:
        np.save(victim, np.zeros(5, np.float16))
    config = yaml.safe_load((work / "ensemble.yaml").read_text())
    config["members"] = [str(tmp_path / "a" / "fold*"), str(work / "b" / "fold*")]
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(config))
    code, _, err = run_cli("--quiet", "tune-ensemble", "--config", tmp_path / "e.yaml", "--out", tmp_path / "w.json")
    assert code == 2 and victim.name in err and len(err.strip().splitlines()) == 1, err

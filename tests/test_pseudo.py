"""`pseudo-label`: the ensemble's masks written in the task's own label layout read back equal to the
ensemble's masks; the splits add them to every fold's train list only; train-fold reads them from an
extra data root; --min-confidence drops by the documented confidence."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from data import get_task
from data.splits import make_splits, write_splits
from tests.stubs import FixedLogits, make_conv_run, make_run, make_stub_run
from tests.test_shards import ensemble_argv

ROOT = Path(__file__).resolve().parents[1]


def csv_masks(csv: Path, task) -> dict[str, np.ndarray]:
    """Image name -> CxHxW masks of a submission CSV."""
    from submit.rle import decode
    from submit.submission import read_submission
    from submit.validate import test_image_sizes

    sizes, out = test_image_sizes(task), {}
    for row in read_submission(csv):
        out.setdefault(row.image_name, []).append(decode(row.rle, sizes[row.image_name]))
    return {name: np.stack(masks) for name, masks in out.items()}


def held_out(member: Path, fold: int, val: list[str]) -> Path:
    """The member's state.json says it was trained on `fold`, holding `val` out."""
    from models.run_folder import RunFolder

    run = RunFolder(member)
    run.write_state(run.state().model_copy(update={"fold": fold, "val_cases": val}))
    return member


@pytest.fixture
def labelled(tmp_path, run_cli, kvasir_root, handbone_root):
    """(task name -> (per fold: the masks of that fold's member alone, pseudo root, splits, stdout)), two folds of
    one member each per task."""
    def make(task_name: str, *extra: str):
        data_root = kvasir_root / "test" if task_name == "kvasir" else handbone_root
        task = get_task(task_name, data_root)
        labelled_root = kvasir_root if task_name == "kvasir" else handbone_root
        folds = make_splits(get_task(task_name, labelled_root), k=2)
        splits = tmp_path / task_name / "splits.json"
        write_splits(folds, splits)
        alone, members = [], []
        for k, fold in enumerate(folds.folds):
            member = tmp_path / task_name / "m" / f"fold{k}"
            if task_name == "kvasir":
                make_conv_run(member, "kvasir", task.classes, image_size=64, seed=11 + k)
            else:
                make_stub_run(member, "handbone", task.classes, size=32, seed=4 + k)
            members.append(held_out(member, k, fold.val))
            csv = tmp_path / task_name / f"alone{k}.csv"
            assert run_cli(*ensemble_argv(task_name, member, data_root, csv))[0] == 0
            alone.append(csv_masks(csv, task))
        out = tmp_path / task_name / "pseudo"
        code, stdout, err = run_cli("--quiet", "pseudo-label", "--config", ROOT / f"configs/ensemble/{task_name}.yaml",
                                    "--set", f"members=[{tmp_path / task_name / 'm' / 'fold*'}]",
                                    f"data.root={data_root}", f"output.csv={tmp_path / 'unused.csv'}", "--out", out,
                                    "--splits", splits, *extra)
        assert code == 0, err
        return alone, out, splits, stdout
    return make


def test_kvasir_pseudo_labels_of_each_fold_are_the_masks_of_that_folds_members_alone(labelled):
    alone, out, splits, stdout = labelled("kvasir")
    extended, original = json.loads((out / "splits.json").read_text()), json.loads(splits.read_text())
    # two members that disagree: each fold's labels say whose they are
    assert any((alone[0][name] != alone[1][name]).any() for name in alone[0])
    for k, masks in enumerate(alone):
        task = get_task("kvasir", out / f"fold{k}")
        cases = task.labelled_cases()
        assert sorted(Path(c).name for c in cases) == sorted(masks)
        for case in cases:
            np.testing.assert_array_equal(task.read_mask(case), masks[Path(case).name])
        new, old = extended["folds"][k], original["folds"][k]
        assert new["val"] == old["val"]
        assert new["train"] == old["train"] + [f"pseudo-fold{k}::{c}" for c in cases]
    assert f"data.extra_roots={{pseudo-fold0: {out / 'fold0'}, pseudo-fold1: {out / 'fold1'}}}" in stdout


def test_a_fold_without_a_member_that_held_it_out_is_refused(kvasir_root, tmp_path, run_cli):
    folds = make_splits(get_task("kvasir", kvasir_root), k=2)
    write_splits(folds, tmp_path / "splits.json")
    make_conv_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), image_size=64, seed=1)
    member = held_out(tmp_path / "m" / "fold0", 0, folds.folds[0].val)
    code, _, err = run_cli("--quiet", "pseudo-label", "--config", ROOT / "configs/ensemble/kvasir.yaml", "--set",
                           f"members=[{member}]", f"data.root={kvasir_root / 'test'}", "--out", tmp_path / "p",
                           "--splits", tmp_path / "splits.json")
    assert code == 2 and "fold 1's validation images" in err and not (tmp_path / "p").exists()


def test_hand_bone_pseudo_labels_are_polygons_filling_the_masks(labelled):
    alone, out, _, _ = labelled("handbone")
    for k, masks in enumerate(alone):
        task = get_task("handbone", out / f"fold{k}")
        cases = task.labelled_cases()
        assert len(cases) == len(masks) and all(c.startswith("train/DCM/") for c in cases)
        for case in cases:
            expected = np.stack([ndimage.binary_fill_holes(plane) for plane in masks[Path(case).name]])
            np.testing.assert_array_equal(task.read_mask(case), expected)  # JSON polygons have no holes


def test_train_fold_trains_on_the_pseudo_root_beside_the_real_one(labelled, kvasir_root, tmp_path, run_cli):
    _, out, _, _ = labelled("kvasir")
    code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0",
                           "--set", f"data.root={kvasir_root}", f"data.splits={out / 'splits.json'}",
                           f"data.extra_roots={{pseudo-fold0: {out / 'fold0'}, pseudo-fold1: {out / 'fold1'}}}",
                           f"run.dir={tmp_path / 'run'}", "train.epochs=1")
    assert code == 0, err
    code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "1",
                           "--set", f"data.root={kvasir_root}", f"data.splits={out / 'splits.json'}",
                           f"run.dir={tmp_path / 'run2'}", "train.epochs=1")
    assert code == 2 and "data.extra_roots" in err  # the splits name the pseudo root; the config must too


def test_min_confidence_is_the_sureness_near_the_predicted_mask_not_over_the_whole_image(kvasir_root, tmp_path,
                                                                                         run_cli):
    """A member whose map is known: p = 0.9 on a 10 x 10 square, 0.1 in a 6-pixel band around it (wider than
    the 3-pixel neighbourhood at 64 px), 0.45 everywhere else. Near the mask max(p, 1 - p) is 0.9 exactly;
    over the whole image it would be about 0.6. So --min-confidence 0.899 keeps every image, 0.901 none."""
    root = kvasir_root / "test"
    probs = np.full((64, 64), 0.45)
    probs[4:26, 4:26] = 0.1
    probs[10:20, 10:20] = 0.9
    model = FixedLogits(1, 64)
    model.logits.copy_(torch.from_numpy(np.log(probs / (1 - probs))).float()[None])
    splits = tmp_path / "splits.json"
    folds = make_splits(get_task("kvasir", kvasir_root), k=2)
    write_splits(folds, splits)
    for k, fold in enumerate(folds.folds):
        make_run(tmp_path / "m" / f"fold{k}", "kvasir", ("polyp",), model, "stub-fixed", {"size": 64, "seed": 0}, 64)
        held_out(tmp_path / "m" / f"fold{k}", k, fold.val)
    for threshold, kept in ((0.899, 2 * len(get_task("kvasir", root).test_images())), (0.901, 0)):
        out = tmp_path / f"pseudo{threshold}"
        code, stdout, err = run_cli("--quiet", "pseudo-label", "--config", ROOT / "configs/ensemble/kvasir.yaml",
                                    "--set", f"members=[{{path: {tmp_path / 'm' / 'fold*'}, tta: none}}]",
                                    f"data.root={root}", "--out", out, "--splits", splits,
                                    "--min-confidence", str(threshold))
        assert code == 0, err
        assert f": {kept} labels written over 2 folds" in stdout


@pytest.mark.parametrize("flag, fragment", [(["--min-confidence", "1.5"], "--min-confidence"),
                                            (["--name", "a::b"], "--name")])
def test_bad_flags_are_one_line(flag, fragment, kvasir_root, tmp_path, run_cli):
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    make_stub_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), size=32, seed=2)
    code, _, err = run_cli("--quiet", "pseudo-label", "--config", ROOT / "configs/ensemble/kvasir.yaml", "--set",
                           f"members=[{tmp_path / 'm' / 'fold0'}]", f"data.root={kvasir_root / 'test'}",
                           "--out", tmp_path / "p", "--splits", splits, *flag)
    assert code == 2 and fragment in err and not (tmp_path / "p").exists()


def test_a_missed_polyp_scores_below_a_found_one_with_soft_edges():
    """A vote confidently empty (p 0.02 everywhere) misses the polyp every Kvasir image holds: 0. A found polyp
    whose probabilities ramp softly over its edge scores by that edge band: above the miss, below 1."""
    from ensemble.pseudo import confidence

    missed = np.full((64, 64), 0.02, np.float32)
    yy, xx = np.mgrid[:64, :64]
    distance = np.hypot(yy - 32, xx - 32)
    found = np.clip(1.0 - (distance - 10) / 8, 0.02, 0.98).astype(np.float32)  # 0.98 inside r 10, 0.02 beyond 18
    scores = {name: confidence([(p, p > 0.5)], every_class_present=True) for name, p in
              (("missed", missed), ("found", found))}
    assert scores["missed"] == 0.0
    assert 0.6 < scores["found"] < 0.95
    # where classes may be absent, an empty prediction is judged by how sure its background is
    assert confidence([(missed, missed > 0.5)], every_class_present=False) == pytest.approx(0.98)


def test_a_second_round_from_the_first_rounds_splits_lists_each_pseudo_case_once(labelled, tmp_path, run_cli,
                                                                                  kvasir_root):
    from data.splits import read_splits

    _, out, _, _ = labelled("kvasir")
    again = tmp_path / "kvasir" / "pseudo2"
    code, _, err = run_cli("--quiet", "pseudo-label", "--config", ROOT / "configs/ensemble/kvasir.yaml", "--set",
                           f"members=[{tmp_path / 'kvasir' / 'm' / 'fold*'}]", f"data.root={kvasir_root / 'test'}",
                           f"output.csv={tmp_path / 'unused.csv'}", "--out", again, "--splits", out / "splits.json")
    assert code == 0, err
    first, second = read_splits(out / "splits.json"), read_splits(again / "splits.json")  # refuses duplicates
    for a, b in zip(first.folds, second.folds):
        assert len(b.train) == len(a.train) and b.val == a.val


def test_a_case_listed_twice_in_a_fold_is_refused(tmp_path):
    from data.splits import read_splits
    from errors import UserError

    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"task": "kvasir", "method": "kfold", "seed": 0, "k": 1,
                                "folds": [{"train": ["images/1.jpg", "images/1.jpg"], "val": ["images/2.jpg"]}]}))
    with pytest.raises(UserError, match="lists 'images/1.jpg' twice in its train list"):
        read_splits(path)

import json

from data import get_task
from data.splits import make_splits, read_splits


def test_group_kfold_never_splits_a_patient(handbone_root, run_cli, tmp_path):
    out = tmp_path / "splits.json"
    code, stdout, _ = run_cli("split", "--task", "handbone", "--data-root", handbone_root, "--k", "2", "--out", out)
    assert code == 0
    splits = read_splits(out)
    assert splits.method == "group-kfold" and splits.k == 2
    task = get_task("handbone", handbone_root)
    all_cases = set(task.labelled_cases())
    seen_val = []
    for fold in splits.folds:
        train_patients = {task.group(c) for c in fold.train}
        val_patients = {task.group(c) for c in fold.val}
        assert not train_patients & val_patients
        assert set(fold.train) | set(fold.val) == all_cases
        seen_val += fold.val
    assert sorted(seen_val) == sorted(all_cases)  # every case validated exactly once


def test_splits_are_deterministic(kvasir_root, tmp_path, run_cli):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in paths:
        assert run_cli("split", "--task", "kvasir", "--data-root", kvasir_root, "--k", "4", "--seed", "3", "--out", path)[0] == 0
    assert paths[0].read_text() == paths[1].read_text()
    other = make_splits(get_task("kvasir", kvasir_root), k=4, seed=4)
    assert [f.val for f in other.folds] != [f.val for f in read_splits(paths[0]).folds]
    raw = json.loads(paths[0].read_text())
    assert set(raw) == {"task", "method", "seed", "k", "folds"} and raw["method"] == "kfold"
    assert sum(len(f["val"]) for f in raw["folds"]) == 16  # train + validation, not test


def test_kvasir_release_split(kvasir_root):
    splits = make_splits(get_task("kvasir", kvasir_root), method="release")
    assert len(splits.folds) == 1
    assert all(c.startswith("train/images/") for c in splits.folds[0].train)
    assert [c.split("/")[0] for c in splits.folds[0].val] == ["validation"] * 4


def test_too_many_folds_is_an_error(handbone_root, run_cli, tmp_path):
    code, _, stderr = run_cli("split", "--task", "handbone", "--data-root", handbone_root, "--k", "9",
                              "--out", tmp_path / "s.json")
    assert code == 2 and "--k 9" in stderr

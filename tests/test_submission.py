from pathlib import Path

import numpy as np
import pytest

from data import get_task
from submit.rle import encode
from submit.submission import read_submission, write_submission


def write_csv(path, task, cases, masks_of):
    with write_submission(path, task.classes) as writer:
        for case in cases:
            writer.write_image(case.split("/")[-1], masks_of(case))


def test_perfect_and_empty_scores(handbone_root, run_cli, tmp_path):
    task = get_task("handbone", handbone_root)
    cases = task.labelled_cases()
    perfect, empty = tmp_path / "perfect.csv", tmp_path / "empty.csv"
    write_csv(perfect, task, cases, task.read_mask)
    write_csv(empty, task, cases, lambda c: np.zeros((29, 128, 128), bool))
    code, out, _ = run_cli("score", "--task", "handbone", "--csv", perfect, "--data-root", handbone_root, "--quiet")
    assert code == 0 and "mean Dice: 1.0000" in out
    code, out, _ = run_cli("score", "--task", "handbone", "--csv", empty, "--data-root", handbone_root, "--quiet")
    assert code == 0 and "mean Dice: 0.0000" in out
    rows = read_submission(perfect)
    assert len(rows) == 8 * 29
    assert [r.class_name for r in rows[:29]] == list(task.classes)
    assert [r.image_name for r in rows[::29]] == sorted(r.image_name for r in rows[::29])


def test_score_matches_hand_computed_dice(kvasir_root, tmp_path):
    from evaluate.score import score_csv

    task = get_task("kvasir", kvasir_root)
    cases = task.labelled_cases()[:2]
    truth = {c: task.read_mask(c) for c in cases}
    shifted = {c: np.roll(m, 3, axis=2) for c, m in truth.items()}
    path = tmp_path / "s.csv"
    write_csv(path, task, cases, shifted.get)
    report = score_csv("kvasir", path, kvasir_root, quiet=True)
    expected = np.mean([2 * (truth[c] & shifted[c]).sum() / (truth[c].sum() + shifted[c].sum()) for c in cases])
    assert report.mean_dice == pytest.approx(expected, abs=1e-6)


def _test_csv(handbone_root, tmp_path):
    task = get_task("handbone", handbone_root)
    path = tmp_path / "sub.csv"
    masks = np.zeros((29, 128, 128), bool)
    masks[:, 10:20, 30:40] = True
    write_csv(path, task, task.test_images(), lambda c: masks)
    return path


def test_validate_accepts_a_complete_csv(handbone_root, tmp_path, run_cli):
    path = _test_csv(handbone_root, tmp_path)
    code, out, _ = run_cli("validate", "--task", "handbone", "--csv", path, "--images", handbone_root)
    assert code == 0 and "valid (2 images)" in out


def test_a_byte_order_mark_reads_as_the_same_csv(handbone_root, tmp_path, run_cli):
    path = _test_csv(handbone_root, tmp_path)
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # what Excel and pandas' utf-8-sig write
    assert read_submission(marked) == read_submission(path)
    code, out, _ = run_cli("validate", "--task", "handbone", "--csv", marked, "--images", handbone_root)
    assert code == 0 and "valid (2 images)" in out


def test_validate_names_the_missing_row(handbone_root, tmp_path, run_cli):
    path = _test_csv(handbone_root, tmp_path)
    lines = path.read_text().splitlines()
    missing = lines.pop(5).split(",")
    path.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli("validate", "--task", "handbone", "--csv", path, "--images", handbone_root)
    assert code == 2 and f"missing row for image {missing[0]!r}, class {missing[1]!r}" in err


def test_validate_names_the_bad_rle_row(handbone_root, tmp_path, run_cli):
    path = _test_csv(handbone_root, tmp_path)
    lines = path.read_text().splitlines()
    name, cls, _ = lines[7].split(",")
    lines[7] = f"{name},{cls},{128 * 128} 5"
    path.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli("validate", "--task", "handbone", "--csv", path, "--images", handbone_root)
    assert code == 2 and "line 8" in err and "past the image" in err and err.count("\n") == 1


def test_score_rejects_unlabelled_image(handbone_root, tmp_path, run_cli):
    path = _test_csv(handbone_root, tmp_path)  # test images have no labels
    code, _, err = run_cli("score", "--task", "handbone", "--csv", path, "--data-root", handbone_root)
    assert code == 2 and "has no label" in err


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text("previous\n")
    with pytest.raises(RuntimeError):
        with write_submission(path, ("polyp",)) as writer:
            writer.write_image("a.jpg", np.ones((1, 2, 2), bool))
            raise RuntimeError("crash mid-write")
    assert path.read_text() == "previous\n"
    assert list(tmp_path.iterdir()) == [path]
    with write_submission(path, ("polyp",)) as writer:
        writer.write_image("a.jpg", np.ones((1, 2, 2), bool))
    assert path.read_text() == f"image_name,class,rle\na.jpg,polyp,{encode(np.ones((2, 2), bool))}\n"


def test_analyze_writes_tables_chart_and_overlays(kvasir_root, tmp_path, run_cli):
    import csv as csv_module

    from evaluate.score import score_csv
    task = get_task("kvasir", kvasir_root)
    cases = task.labelled_cases()[:3]
    path = tmp_path / "s.csv"
    write_csv(path, task, cases, lambda c: np.roll(task.read_mask(c), 2 * cases.index(c), axis=2))
    out = tmp_path / "report"
    code, _, _ = run_cli("analyze", "--task", "kvasir", "--csv", path, "--data-root", kvasir_root,
                         "--out", out, "--worst", "2", "--quiet")
    assert code == 0
    with open(out / "per_class.csv") as handle:
        rows = list(csv_module.DictReader(handle))
    assert float(rows[0]["dice"]) == pytest.approx(score_csv("kvasir", path, kvasir_root, quiet=True).mean_dice, abs=1e-6)
    with open(out / "per_image.csv") as handle:
        per_image = list(csv_module.DictReader(handle))
    assert per_image[-1]["image_name"] == Path(cases[0]).name and float(per_image[-1]["mean_dice"]) == pytest.approx(1.0)
    worst = sorted(p.stem for p in (out / "worst").iterdir())
    assert worst == sorted(Path(r["image_name"]).stem for r in per_image[:2])
    assert (out / "per_class_dice.png").stat().st_size > 1000

"""`compare`: per-image Dice of several CSVs against labels and the paired bootstrap, checked against hand
computations, a simulation's coverage and the patient grouping."""
import csv

import numpy as np
import pytest

from data import get_task
from evaluate.bootstrap import paired_bootstrap
from submit.submission import write_submission


def write_csv(path, task, masks_by_name):
    with write_submission(path, task.classes) as writer:
        for name in sorted(masks_by_name):
            writer.write_image(name, masks_by_name[name])


def test_compare_against_a_hand_computation(kvasir_root, run_cli, tmp_path):
    """A is the truth on every image (Dice 1); B is the truth on two images and empty on the third (Dice 0):
    means 1 and 2/3, diff -1/3, wins 1 for A, 2 ties; every resample has B <= A."""
    task = get_task("kvasir", kvasir_root)
    cases = task.labelled_cases()[:3]
    truth = {c.split("/")[-1]: task.read_mask(c) for c in cases}
    assert all(m.any() for m in truth.values())
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_csv(a, task, truth)
    names = sorted(truth)
    write_csv(b, task, {**truth, names[1]: np.zeros_like(truth[names[1]])})
    out = tmp_path / "table.csv"
    code, printed, err = run_cli("compare", "--task", "kvasir", "--data-root", kvasir_root, "--csv", a, b,
                                 "--out", out, "--quiet")
    assert code == 0, err
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["a", "b", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_b_better",
                             "wins_a", "wins_b", "ties"]
    row = rows[0]
    assert row["a"] == str(a) and row["b"] == str(b) and row["n"] == "3"
    assert float(row["mean_a"]) == pytest.approx(1.0)
    assert float(row["mean_b"]) == pytest.approx(2 / 3, abs=1e-4)
    assert float(row["diff"]) == pytest.approx(-1 / 3, abs=1e-4)
    assert (row["wins_a"], row["wins_b"], row["ties"]) == ("1", "0", "2")
    assert float(row["p_b_better"]) == 0.0
    assert float(row["ci_low"]) == pytest.approx(-1.0, abs=1e-4) and float(row["ci_high"]) == pytest.approx(0.0)
    assert str(b) in printed


def test_the_interval_is_a_percentile_interval_of_resampled_means():
    """Against a direct loop over the same draws: the mean difference of each resample of images."""
    rng = np.random.default_rng(3)
    a, b = rng.random(20), rng.random(20)
    result = paired_bootstrap(a, b, resamples=500, seed=7)
    draws = np.random.default_rng(7).integers(0, 20, size=(500, 20))
    expected = [np.mean(b[d] - a[d]) for d in draws]
    assert result.ci_low == pytest.approx(np.quantile(expected, 0.025))
    assert result.ci_high == pytest.approx(np.quantile(expected, 0.975))
    assert result.p_b_better == pytest.approx(np.mean(np.array(expected) > 0))
    assert result.diff == pytest.approx(np.mean(b - a))


def test_the_interval_covers_a_known_difference_about_95_percent_of_the_time():
    """200 seeded trials of 100 images with a true mean difference of 0.01: coverage near 0.95 (a binomial
    with p 0.95 and n 200 lies in [0.90, 0.99] with probability > 0.999)."""
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        a = rng.beta(8, 2, 100)
        b = a + 0.01 + rng.normal(0, 0.03, 100)
        result = paired_bootstrap(a, b, resamples=2000, seed=trial)
        covered += result.ci_low <= 0.01 <= result.ci_high
    assert 0.90 <= covered / 200 <= 0.99


def test_patients_are_resampled_together():
    """Two images per patient with opposite differences: every resample of whole patients has difference 0;
    resampling images one by one does not."""
    a = np.zeros(10)
    b = np.tile([0.5, -0.5], 5)
    patients = np.repeat(np.arange(5), 2)
    grouped = paired_bootstrap(a, b, patients, resamples=1000)
    assert grouped.ci_low == pytest.approx(0.0) and grouped.ci_high == pytest.approx(0.0)
    single = paired_bootstrap(a, b, resamples=1000)
    assert single.ci_low < -0.1 and single.ci_high > 0.1


def test_handbone_compare_groups_by_patient(handbone_root, run_cli, tmp_path):
    """Hand-bone images of one patient differ in opposite directions: the interval is a single point."""
    task = get_task("handbone", handbone_root)
    cases = task.labelled_cases()
    truth = {c.split("/")[-1]: task.read_mask(c) for c in cases}
    by_patient = {}
    for case in cases:
        by_patient.setdefault(task.group(case), []).append(case.split("/")[-1])
    assert all(len(names) == 2 for names in by_patient.values())
    a_masks, b_masks = dict(truth), dict(truth)
    for first, second in by_patient.values():  # A misses all of the first hand, B all of the second
        a_masks[first] = np.zeros_like(truth[first])
        b_masks[second] = np.zeros_like(truth[second])
    a, b, out = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "t.csv"
    write_csv(a, task, a_masks)
    write_csv(b, task, b_masks)
    code, _, err = run_cli("compare", "--task", "handbone", "--data-root", handbone_root, "--csv", a, b, "--out", out,
                           "--resamples", "300", "--quiet")
    assert code == 0, err
    with open(out, newline="") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["diff"]) == pytest.approx(0.0, abs=1e-6)  # the metric's eps: empty against a bone is not exactly 0
    assert float(row["ci_low"]) == pytest.approx(0.0, abs=1e-6) and float(row["ci_high"]) == pytest.approx(0, abs=1e-6)
    assert int(row["wins_a"]) == int(row["wins_b"]) == len(by_patient)


def test_different_image_sets_and_unlabelled_images_are_one_line(kvasir_root, run_cli, tmp_path):
    task = get_task("kvasir", kvasir_root)
    cases = task.labelled_cases()[:3]
    truth = {c.split("/")[-1]: task.read_mask(c) for c in cases}
    a, fewer, stranger = tmp_path / "a.csv", tmp_path / "fewer.csv", tmp_path / "stranger.csv"
    write_csv(a, task, truth)
    write_csv(fewer, task, dict(list(truth.items())[:2]))
    write_csv(stranger, task, {**truth, "not_labelled.jpg": next(iter(truth.values()))})
    out = tmp_path / "t.csv"
    for other, expected in ((fewer, "cover different images"), (stranger, "has no label")):
        code, _, err = run_cli("compare", "--task", "kvasir", "--data-root", kvasir_root, "--csv", a, other,
                               "--out", out, "--quiet")
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
    code, _, err = run_cli("compare", "--task", "kvasir", "--data-root", kvasir_root, "--csv", a, a,
                           "--out", a, "--quiet")
    assert code == 2 and "input" in err

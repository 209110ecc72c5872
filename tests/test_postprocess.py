"""Post-processing: each step against SciPy's own labelling through the ensemble config, and its choice per
class by tune-ensemble on hand-built OOF maps where only class 0 carries spurious specks."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import ndimage

from configs.schema import PostProcess
from data import get_task
from data.splits import make_splits
from ensemble.postprocess import choose_postprocess
from ensemble.run import run_ensemble
from evaluate.counts import COMPETITION_EPS
from models.run_folder import RunFolder
from tests.stubs import make_stub_run
from tests.test_ensemble import csv_masks, ensemble_config, reference_probs

EIGHT = np.ones((3, 3), bool)  # 8-connected foreground, as the clean-up counts components
SPECKS = [(slice(1, 4), slice(1, 4)), (slice(1, 4), slice(124, 127)), (slice(124, 127), slice(1, 4))]


def scipy_largest(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask, EIGHT)
    if count <= 1:
        return mask
    return labels == 1 + int(np.argmax(ndimage.sum(mask, labels, range(1, count + 1))))


def scipy_remove_small(mask: np.ndarray, min_pixels: float) -> np.ndarray:
    labels, count = ndimage.label(mask, EIGHT)
    areas = ndimage.sum(mask, labels, range(1, count + 1))
    return np.isin(labels, 1 + np.flatnonzero(areas >= min_pixels))


def reference_postprocess(mask: np.ndarray, step: dict) -> np.ndarray:
    """A weights file's step for one class, done with SciPy."""
    if step["step"] == "largest":
        return scipy_largest(mask)
    if step["step"] == "remove_small":
        return scipy_remove_small(mask, step["min_share"] * mask.size)
    return ndimage.binary_fill_holes(mask) if step["step"] == "fill_holes" else mask


@pytest.fixture
def kvasir_votes(kvasir_root, tmp_path):
    """A speckled member (32x32 random logits upsampled to 64 px) and its plain masks."""
    make_stub_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), size=32, seed=3)
    root = kvasir_root / "test"

    def masks(postprocess: dict | None = None) -> dict[str, np.ndarray]:
        name = "plain" if postprocess is None else postprocess["step"]
        extra = {} if postprocess is None else {"postprocess": {"polyp": postprocess}}
        config = ensemble_config("kvasir", root, [str(tmp_path / "m" / "fold0")], tmp_path / f"{name}.csv", **extra)
        return csv_masks(run_ensemble(config, quiet=True), (64, 64))

    return masks


def test_keep_largest_remove_small_and_fill_holes_match_scipy(kvasir_votes):
    plain = kvasir_votes()
    assert max(ndimage.label(m, EIGHT)[1] for m in plain.values()) > 1  # the member is speckled
    largest, small = kvasir_votes({"step": "largest"}), kvasir_votes({"step": "remove_small", "min_share": 0.01})
    filled = kvasir_votes({"step": "fill_holes"})
    for name, mask in plain.items():
        np.testing.assert_array_equal(largest[name], scipy_largest(mask))
        np.testing.assert_array_equal(small[name], scipy_remove_small(mask, 0.01 * mask.size))
        np.testing.assert_array_equal(filled[name], ndimage.binary_fill_holes(mask))
    assert any((largest[n] != plain[n]).any() for n in plain) and any((small[n] != plain[n]).any() for n in plain)


def test_a_postprocess_class_the_task_lacks_is_one_line(kvasir_root, tmp_path, run_cli):
    make_stub_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), size=32, seed=3)
    code, _, err = run_cli("--quiet", "ensemble", "--config", Path(__file__).parents[1] / "configs/ensemble/kvasir.yaml",
                           "--set", f"members=[{tmp_path / 'm' / 'fold0'}]", f"data.root={kvasir_root / 'test'}",
                           f"output.csv={tmp_path / 'o.csv'}", "postprocess={tumour: {step: largest}}")
    assert code == 2 and "'tumour'" in err and not (tmp_path / "o.csv").exists()


@pytest.fixture
def speckled_oof(handbone_root, tmp_path):
    """One entry over 2 folds whose OOF is the truth (0.9 inside, 0.1 outside), plus three 3x3 specks on
    class 0 in the corners, away from every bone."""
    task = get_task("handbone", handbone_root)
    splits = make_splits(task, k=2)
    for fold, split in enumerate(splits.folds):
        path = tmp_path / "a" / f"fold{fold}"
        make_stub_run(path, "handbone", task.classes, size=128, seed=fold)  # its grid: the images' size
        run = RunFolder(path)
        state = run.state()
        state.config.data.root = handbone_root
        run.write_state(state.model_copy(update={"fold": fold, "val_cases": split.val, "oof_done": True}))
        for case in split.val:
            truth = task.read_mask(case)
            probs = np.where(truth, 0.9, 0.1)
            for speck in SPECKS:
                assert not truth[0][speck].any()
                probs[0][speck] = 0.9
            run.write_oof(Path(case).name, probs.astype(np.float16))
    config = {"task": "handbone", "members": [str(tmp_path / "a" / "fold*")], "data": {"root": str(handbone_root)},
              "output": {"csv": str(tmp_path / "sub.csv")}}
    (tmp_path / "ensemble.yaml").write_text(yaml.safe_dump(config))
    return tmp_path, task


def test_tune_ensemble_keeps_a_clean_up_for_the_speckled_class_only(speckled_oof, run_cli):
    work, task = speckled_oof
    code, out, err = run_cli("--quiet", "tune-ensemble", "--config", work / "ensemble.yaml", "--out", work / "w.json")
    assert code == 0, err
    chosen = json.loads((work / "w.json").read_text())["postprocess"]
    assert list(chosen) == [task.classes[0]] and chosen[task.classes[0]]["step"] in ("largest", "remove_small")
    with open(work / "w_cv.csv") as handle:
        rows = {row["class"]: row for row in csv.DictReader(handle)}
    truths = [task.read_mask(case)[0] for case in task.labelled_cases()]
    speck_pixels = 9 * len(SPECKS)
    without = np.mean([(2 * t.sum() + COMPETITION_EPS) / (2 * t.sum() + speck_pixels + COMPETITION_EPS) for t in truths])
    assert float(rows[task.classes[0]]["oof_without_postprocess"]) == pytest.approx(without, abs=1e-6)
    assert float(rows[task.classes[0]]["cv_with_postprocess"]) == pytest.approx(1.0, abs=1e-9)  # cleaned: the truth
    assert rows[task.classes[1]]["postprocess"] == "none"
    assert float(rows[task.classes[1]]["cv_with_postprocess"]) == float(rows[task.classes[1]]["oof_without_postprocess"])
    assert task.classes[0] in out


@pytest.mark.parametrize("dtype", [bool, np.uint8])
def test_fill_holes_fills_a_ring_and_leaves_a_bay_open(dtype):
    """A hand-made ring (a hole inside) and a U shape (its gap open to the border), as bool and as 0/1 uint8."""
    from ensemble.postprocess import apply_postprocess

    mask = np.zeros((12, 12), dtype)
    mask[2:7, 2:7] = 1
    mask[4, 4] = 0  # the hole
    mask[8:12, 8] = mask[8:12, 11] = mask[8, 8:12] = 1  # a U whose inside runs to the bottom border
    filled = apply_postprocess(mask, mask.astype(np.float32), PostProcess(step="fill_holes"))
    expected = mask.astype(bool)
    expected[4, 4] = True
    np.testing.assert_array_equal(filled, expected)
    np.testing.assert_array_equal(filled, ndimage.binary_fill_holes(mask))


def rectangles(*boxes: tuple[int, int, int, int]) -> np.ndarray:
    """A 64 x 64 mask of (top, left, height, width) rectangles."""
    mask = np.zeros((64, 64), bool)
    for top, left, height, width in boxes:
        mask[top:top + height, left:left + width] = True
    return mask


def test_each_fold_is_scored_with_sizes_taken_from_the_other_folds_only():
    """Fold 0: two 200-px bones and a 60-px false speck; fold 1: two 90-px bones and a 10-px speck. Chosen on
    fold 0 alone, remove_small's candidate sizes (shares of its median largest component, 200 px) are 10, 20,
    50 and 100 px; only 100 removes the speck, and it also removes fold 1's 90-px bones: Dice ~0 there. Had
    fold 1's own masks entered the sizes (median 145 px), 72.5 px would have won and kept them (Dice 1). Fold 0
    is scored with fold 1's choice (22.5 px, which keeps the 60-px speck): 800 / 860."""
    a_truth, b_truth = rectangles((2, 2, 10, 20), (30, 30, 10, 20)), rectangles((2, 2, 9, 10), (30, 30, 9, 10))
    a_mask, b_mask = a_truth | rectangles((50, 50, 6, 10)), b_truth | rectangles((50, 50, 2, 5))
    votes = [m.astype(np.float32) for m in (a_mask, a_mask, b_mask, b_mask)]
    choice = choose_postprocess(votes, 0.5, [a_truth, a_truth, b_truth, b_truth], np.array([0, 0, 1, 1]))
    def dice(twice_tp: int, fp_fn: int) -> float:
        return (twice_tp + COMPETITION_EPS) / (twice_tp + fp_fn + COMPETITION_EPS)

    assert choice.cv_with == pytest.approx((2 * dice(800, 60) + 2 * dice(0, 180)) / 4, abs=1e-12)
    assert choice.cv_without == pytest.approx((2 * dice(800, 60) + 2 * dice(360, 10)) / 4, abs=1e-12)
    assert choice.step == PostProcess()  # the cross-validated Dice fell: no step is kept


def test_never_empty_turns_an_empty_mask_into_the_blob_around_the_peak():
    """Hand-made probabilities, all below the 0.5 threshold: a blob peaking at 0.4 (a 0.3 core in a 0.15
    rim) and a separate 0.25 square. At half the peak (0.2) the mask is the peak's core, not the square; at a
    third of it (0.133) the core and rim; a mask with pixels stays as it is; all-zero probabilities stay empty."""
    from ensemble.postprocess import apply_postprocess

    probs = np.zeros((16, 16), np.float32)
    probs[2:9, 2:9] = 0.15
    probs[3:8, 3:8] = 0.3
    probs[5, 5] = 0.4
    probs[11:14, 11:14] = 0.25
    core, blob = np.zeros((16, 16), bool), np.zeros((16, 16), bool)
    core[3:8, 3:8] = True
    blob[2:9, 2:9] = True
    empty = probs > 0.5

    def step(share: float) -> PostProcess:
        return PostProcess(step="never_empty", peak_share=share)

    np.testing.assert_array_equal(apply_postprocess(empty, probs, step(0.5)), core)
    np.testing.assert_array_equal(apply_postprocess(empty, probs, step(1 / 3)), blob)
    np.testing.assert_array_equal(apply_postprocess(probs > 0.2, probs, step(0.5)), probs > 0.2)
    assert not apply_postprocess(empty, np.zeros_like(probs), step(0.5)).any()


def test_never_empty_through_the_ensemble_config(kvasir_root, tmp_path):
    """Above a threshold of 1 no pixel is foreground; never_empty then gives each image the 8-connected component,
    around the peak, of the member's probabilities at 0.9 of the peak or above (SciPy's labelling of the
    reference probabilities), and at a share so small that every sigmoid probability passes it, all pixels."""
    model = make_stub_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), size=32, seed=3)
    probs = reference_probs(model, (64, 64))[0]
    labels, _ = ndimage.label(probs >= 0.9 * probs.max(), EIGHT)
    expected = labels == labels.flat[int(np.argmax(probs))]
    assert 1 < expected.sum() < (probs >= 0.9 * probs.max()).sum()  # the peak's blob, not every bright pixel

    def masks(name: str, **extra) -> dict[str, np.ndarray]:
        config = ensemble_config("kvasir", kvasir_root / "test", [str(tmp_path / "m" / "fold0")],
                                 tmp_path / f"{name}.csv", thresholds=1.0, **extra)
        return csv_masks(run_ensemble(config, quiet=True), (64, 64))

    assert not any(mask.any() for mask in masks("plain").values())
    for share, truth in ((0.9, expected), (1e-9, np.ones((64, 64), bool))):
        cleaned = masks(f"share_{share}", postprocess={"polyp": {"step": "never_empty", "peak_share": share}})
        assert cleaned and all(np.array_equal(mask, truth) for mask in cleaned.values())


def test_tune_ensemble_keeps_never_empty_where_the_vote_is_faint():
    """Four images over two folds whose vote is 0.4 on the truth rectangle and 0 elsewhere: at the 0.5 threshold
    every mask is empty (Dice 0); never_empty at any share of the peak gives the rectangle (Dice 1)."""
    truths = [rectangles((4 + i, 4, 10, 12)) for i in range(4)]
    votes = [np.where(t, 0.4, 0.0).astype(np.float32) for t in truths]
    choice = choose_postprocess(votes, 0.5, truths, np.array([0, 0, 1, 1]))
    missed = 120  # every truth pixel
    assert choice.cv_without == pytest.approx(COMPETITION_EPS / (missed + COMPETITION_EPS), abs=1e-12)
    assert choice.cv_with == pytest.approx(1.0)
    assert choice.step.step == "never_empty"

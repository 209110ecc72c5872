"""TTA sets and scales through the ensemble config: each view is undone exactly (a left-right and up-down
asymmetric local function, expectations written in NumPy), and scales resample back onto the member's grid."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from configs.load import validate_config
from configs.schema import EnsembleMember
from data import get_task
from ensemble.run import run_ensemble
from errors import UserError
from tests.stubs import local_conv_probs, make_conv_run
from tests.test_ensemble import csv_masks, ensemble_config

IDENTITY = (lambda a: a, lambda p: p)
MIRROR = (lambda a: a[:, ::-1], lambda p: p[:, :, ::-1])
UPSIDE_DOWN = (lambda a: a[::-1], lambda p: p[:, ::-1])
BOTH = (lambda a: a[::-1, ::-1], lambda p: p[:, ::-1, ::-1])
TRANSPOSE = (lambda a: a.transpose(1, 0, 2), lambda p: p.transpose(0, 2, 1))
ANTI_TRANSPOSE = (lambda a: a[::-1, ::-1].transpose(1, 0, 2), lambda p: p.transpose(0, 2, 1)[:, ::-1, ::-1])
QUARTER = (lambda a: a.transpose(1, 0, 2)[::-1], lambda p: p[:, ::-1].transpose(0, 2, 1))  # counter-clockwise
THREE_QUARTERS = (lambda a: a.transpose(1, 0, 2)[:, ::-1], lambda p: p[:, :, ::-1].transpose(0, 2, 1))
EXPECTED_VIEWS = {
    "hflip": [IDENTITY, MIRROR],
    "vflip": [IDENTITY, UPSIDE_DOWN],
    "flips": [IDENTITY, MIRROR, UPSIDE_DOWN, BOTH],
    "d4": [IDENTITY, MIRROR, UPSIDE_DOWN, BOTH, TRANSPOSE, ANTI_TRANSPOSE, QUARTER, THREE_QUARTERS],
}


def view_mean(image: np.ndarray, views) -> np.ndarray:
    return np.mean([undo(local_conv_probs(np.ascontiguousarray(apply(image)), seed=11)) for apply, undo in views], 0)


def assert_masks_match(masks: np.ndarray, expected: np.ndarray) -> None:
    sure = np.abs(expected - 0.5) > 1e-3  # float32 network vs float64 reference: only decided pixels compare
    assert sure.mean() > 0.97
    np.testing.assert_array_equal(masks[sure], (expected > 0.5)[sure])


@pytest.mark.parametrize("tta", list(EXPECTED_VIEWS))
def test_every_tta_set_averages_its_views_each_undone(tta, kvasir_root, tmp_path):
    make_conv_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), image_size=64, seed=11)
    task = get_task("kvasir", kvasir_root / "test")
    config = ensemble_config("kvasir", kvasir_root / "test", [{"path": str(tmp_path / "m" / "fold0"), "tta": tta}],
                             tmp_path / "sub.csv")
    masks = csv_masks(run_ensemble(config, quiet=True), (64, 64))
    changed = []
    for case in task.test_images():
        image = task.read_image(case)
        expected = view_mean(image, EXPECTED_VIEWS[tta])[0]
        assert_masks_match(masks[Path(case).name], expected)
        changed.append(((expected > 0.5) != (local_conv_probs(image, seed=11)[0] > 0.5)).mean())
    assert np.mean(changed) > 0.005  # the views matter: a set that skipped them would fail above


def test_tta_scales_resample_each_scale_onto_the_members_grid(kvasir_root, tmp_path):
    """A 64-px resize member with scales 0.5 and 1: the 32-px input's probabilities, bilinearly resized
    to 64 px, averaged with the plain ones (hflip on both scales)."""
    make_conv_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), image_size=64, seed=11)
    task = get_task("kvasir", kvasir_root / "test")
    config = ensemble_config("kvasir", kvasir_root / "test", [
        {"path": str(tmp_path / "m" / "fold0"), "tta": "hflip", "tta_scales": [0.5, 1.0]}], tmp_path / "sub.csv")
    masks = csv_masks(run_ensemble(config, quiet=True), (64, 64))
    for case in task.test_images():
        image = task.read_image(case)
        small = cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA)
        half = cv2.resize(view_mean(small, EXPECTED_VIEWS["hflip"])[0].astype(np.float32), (64, 64),
                          interpolation=cv2.INTER_LINEAR)
        expected = (half + view_mean(image, EXPECTED_VIEWS["hflip"])[0]) / 2
        assert_masks_match(masks[Path(case).name], expected)


def test_tta_scales_must_be_positive():
    with pytest.raises(UserError, match="tta_scales.0: Input should be greater than 0"):
        validate_config({"path": "x", "tta_scales": [0.0]}, EnsembleMember, "test")


@pytest.mark.parametrize("scales, fragment", [([0.95, 1.0, 1.05], "0.95 and 1 both give a 64 px input"),
                                              ([4.0], None)])
def test_scales_that_round_to_one_input_size_are_refused(scales, fragment, kvasir_root, tmp_path):
    """At image_size 64, 0.95 x 64 and 1.0 x 64 both round to 64 px (multiples of 32): the same view twice."""
    make_conv_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), image_size=64, seed=11)
    config = ensemble_config("kvasir", kvasir_root / "test", [
        {"path": str(tmp_path / "m" / "fold0"), "tta_scales": scales}], tmp_path / "sub.csv")
    if fragment is None:  # 4 x 64 = 256 px: distinct and allowed
        assert run_ensemble(config, quiet=True).is_file()
        return
    with pytest.raises(UserError, match=fragment):
        run_ensemble(config, quiet=True)
    assert not (tmp_path / "sub.csv").exists()

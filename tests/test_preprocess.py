"""`data.preprocess: [clahe]`: every image the member sees goes through it -- its training set, its
validation inputs and the ensemble's test images -- unless an ensemble entry says `skip_preprocess`."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from configs.schema import PreprocessStep
from data import get_task
from data.resample import resize_image
from ensemble.run import run_ensemble
from folds.engine import FoldTrainer
from models.run_folder import RunFolder
from tests.stubs import local_conv_probs, make_conv_run
from tests.test_engine import member
from tests.test_ensemble import csv_masks, ensemble_config


def opencv_clahe(image: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """CLAHE on the LAB lightness with OpenCV directly."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def test_training_and_validation_see_preprocessed_images(kvasir_root, tmp_path):
    config = member("kvasir", kvasir_root, tmp_path, "data.preprocess=[{name: clahe, clip_limit: 3.0, tile_grid: 4}]")
    trainer = FoldTrainer(config, 0, quiet=True)
    raw = get_task("kvasir", kvasir_root)
    case = trainer.train_set.cases[0]
    expected = resize_image(opencv_clahe(raw.read_image(case), 3.0, 4), config.data.image_size)
    np.testing.assert_array_equal(trainer.train_set._cached[0][0], expected)
    val_case = trainer.val.cases[0]
    np.testing.assert_array_equal(trainer.val._inputs[0], trainer.predictor.prepare(opencv_clahe(
        raw.read_image(val_case), 3.0, 4)))
    assert not np.array_equal(expected, resize_image(raw.read_image(case), config.data.image_size))


def test_the_ensemble_applies_each_members_preprocessing_unless_told_to_skip_it(kvasir_root, tmp_path):
    path = tmp_path / "m" / "fold0"
    make_conv_run(path, "kvasir", ("polyp",), image_size=64, seed=11)
    run = RunFolder(path)
    state = run.state()
    state.config.data.preprocess = [PreprocessStep(name="clahe")]
    run.write_state(state)
    task = get_task("kvasir", kvasir_root / "test")
    results = {}
    for skip in (False, True):
        config = ensemble_config("kvasir", kvasir_root / "test", [{"path": str(path), "skip_preprocess": skip}],
                                 tmp_path / f"skip{skip}.csv")
        results[skip] = csv_masks(run_ensemble(config, quiet=True), (64, 64))
    differs = []
    for case in task.test_images():
        image, name = task.read_image(case), Path(case).name
        for skip, seen in ((False, opencv_clahe(image)), (True, image)):
            expected = local_conv_probs(seen, seed=11)[0]
            sure = np.abs(expected - 0.5) > 1e-3
            np.testing.assert_array_equal(results[skip][name][sure], (expected > 0.5)[sure])
        differs.append((results[False][name] != results[True][name]).mean())
    assert np.mean(differs) > 0.02


def test_an_unknown_preprocessing_step_is_refused(kvasir_root, tmp_path):
    with pytest.raises(Exception, match="data.preprocess"):
        member("kvasir", kvasir_root, tmp_path, "data.preprocess=[sharpen]")



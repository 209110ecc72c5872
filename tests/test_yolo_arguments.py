"""YOLOv8-seg members do what their config says: each shared key reaches the ultralytics argument that does the
same thing (read back from ultralytics' own args.yaml), a key ultralytics cannot honour is one line before any
work (what ultralytics received, and the epoch state.json says it kept: tests/test_yolo.py)."""
from pathlib import Path

import pytest
import torch

from configs.load import load_config
from configs.schema import MemberConfig
from data import get_task
from data.splits import make_splits, write_splits
from folds.yolo.arguments import train_arguments
from models.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def arguments(*overrides: str) -> dict:
    config = load_config(ROOT / "configs/kvasir/tiny_yolo.yaml", MemberConfig, list(overrides))
    return train_arguments(config, RunFolder("unused"), torch.device("cpu"), quiet=True)


def test_each_shared_key_maps_onto_the_ultralytics_argument_that_does_the_same():
    plain = arguments()
    assert plain["fliplr"] == 0.5 and plain["flipud"] == 0.0 and plain["lrf"] == 0.0 and plain["cos_lr"]
    assert not {"degrees", "translate", "scale", "hsv_h", "hsv_s", "hsv_v"} & set(plain)  # ultralytics' own
    assert arguments("augment.vflip=0.3")["flipud"] == 0.3
    assert arguments("augment.rotate=1", "augment.rotate_limit=20")["degrees"] == 20
    affine = arguments("augment.affine=1", "augment.affine_rotate=12", "augment.affine_translate=0.2",
                       "augment.affine_scale=[0.6, 1.3]")
    assert (affine["degrees"], affine["translate"], affine["scale"]) == (12, 0.2, [0.6, 1.3])
    jitter = arguments("augment.color_jitter=1", "augment.jitter_contrast=0", "augment.jitter_hue=0.02",
                       "augment.jitter_saturation=0.4", "augment.jitter_brightness=[0.7, 1.2]")
    assert (jitter["hsv_h"], jitter["hsv_s"]) == (0.02, 0.4) and jitter["hsv_v"] == pytest.approx(0.3)
    assert arguments("scheduler.min_lr=2e-3")["lrf"] == pytest.approx(0.1)  # tiny_yolo's lr is 2e-2
    constant = arguments("scheduler.name=none")
    assert constant["lrf"] == 1.0 and not constant["cos_lr"]


@pytest.mark.parametrize("overrides, fragment", [
    (["augment.gamma=0.5"], "augment.gamma: ultralytics' trainer has no such augmentation"),
    (["augment.clahe=0.2"], "augment.clahe"),
    (["augment.elastic=0.2"], "augment.elastic"),
    (["augment.affine=0.5"], "augment.affine 0.5: ultralytics applies its affine"),
    (["augment.rotate=1", "augment.affine=1"], "one rotation (degrees)"),
    (["augment.color_jitter=1"], "augment.jitter_contrast: ultralytics' colour jitter has no contrast change"),
    (["train.loss={dice: 1}"], "train.loss: yolov8-seg trains in ultralytics"),
    (["train.swa_start=1"], "train.swa_start"),
    (["train.channels_last=true"], "train.channels_last"),
    (["train.amp_dtype=bfloat16"], "train.amp_dtype"),
    (["train.val_every=2"], "train.val_every"),
    (["scheduler.name=step"], "scheduler.name 'step'"),
    (["scheduler.name=plateau"], "scheduler.name 'plateau'"),
    (["model.trainer_args={degrees: 5}", "augment.rotate=1"], "model.trainer_args.degrees: set by the member's"),
])
def test_a_key_ultralytics_cannot_honour_is_one_line_before_any_work(overrides, fragment, kvasir_root, tmp_path,
                                                                     run_cli):
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny_yolo.yaml", "--fold", "0",
                           "--set", f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'run'}",
                           *overrides)
    assert code == 2 and fragment in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()

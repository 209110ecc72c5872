"""Mixed precision through the config: bfloat16 autocast on CPUs that have it, float32 losses and outputs."""
from pathlib import Path

import numpy as np
import pytest
import torch

import folds.engine
import models.device
from configs.load import load_config
from configs.schema import EnsembleMember, MemberConfig
from data import get_task
from data.splits import make_splits, write_splits
from ensemble.members import load_member
from folds.train import train_fold
from tests.stubs import make_conv_run

ROOT = Path(__file__).resolve().parents[1]
needs_bf16 = pytest.mark.skipif(not models.device.cpu_has_bfloat16(), reason="this CPU has no bfloat16 support")


@pytest.fixture
def tiny(kvasir_root, tmp_path):
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)

    def config(*overrides: str) -> MemberConfig:
        return load_config(ROOT / "configs/kvasir/tiny.yaml", MemberConfig, [
            f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'run'}", "train.epochs=1",
            "train.device=cpu", *overrides])

    return config, splits


def recorded_dtypes(monkeypatch) -> dict[str, set]:
    """The dtypes of the first convolution's output in training and in evaluation forwards."""
    seen = {"train": set(), "eval": set()}
    real = folds.engine.build_model

    def build_with_hook(*args, **kwargs):
        model = real(*args, **kwargs)
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        first.register_forward_hook(lambda m, i, out: seen["train" if m.training else "eval"].add(out.dtype))
        return model

    monkeypatch.setattr(folds.engine, "build_model", build_with_hook)
    return seen


@needs_bf16
@pytest.mark.parametrize("amp, expected", [("true", torch.bfloat16), ("false", torch.float32)])
def test_train_amp_reaches_the_members_forward(tiny, monkeypatch, amp, expected):
    config, _ = tiny
    seen = recorded_dtypes(monkeypatch)
    result = train_fold(config(f"train.amp={amp}"), fold=0, quiet=True)
    assert seen == {"train": {expected}, "eval": {expected}}  # training steps, validation and OOF alike
    oof = [np.load(p) for p in (result.run_dir / "oof").iterdir()]
    assert oof and all(a.dtype == np.float16 and np.isfinite(a).all() for a in oof)


def test_float16_on_the_cpu_is_one_line_naming_the_key(tiny, run_cli, kvasir_root, tmp_path):
    _, splits = tiny
    code, _, err = run_cli("train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0", "--set",
                           f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'r'}",
                           "train.device=cpu", "train.amp=true", "train.amp_dtype=float16")
    assert code == 2 and "train.amp_dtype" in err and err.count("\n") == 1 and not (tmp_path / "r").exists()


def test_bfloat16_on_a_cpu_without_it_is_one_line(tiny, run_cli, kvasir_root, tmp_path, monkeypatch):
    _, splits = tiny
    monkeypatch.setattr(models.device, "cpu_has_bfloat16", lambda: False)
    argv = ["train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0", "--set",
            f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'r'}", "train.device=cpu",
            "train.amp=true"]
    code, _, err = run_cli(*argv, "train.amp_dtype=bfloat16")
    assert code == 2 and "no bfloat16 support" in err and not (tmp_path / "r").exists()
    assert models.device.amp_dtype(torch.device("cpu"), True) is None  # auto falls back to float32


@needs_bf16
def test_the_ensembles_amp_predicts_in_bfloat16_and_keys_its_cache_apart(kvasir_root, tmp_path):
    member = tmp_path / "m" / "fold0"
    make_conv_run(member, "kvasir", ("polyp",), image_size=32, seed=5)
    image = get_task("kvasir", kvasir_root / "test").read_image(get_task("kvasir", kvasir_root / "test").test_images()[0])
    plain = load_member(member, EnsembleMember(path=str(member)), torch.device("cpu"), ("polyp",), 1.0)
    mixed = load_member(member, EnsembleMember(path=str(member)), torch.device("cpu"), ("polyp",), 1.0,
                        torch.bfloat16)
    a, b = plain.predictor.predict(image), mixed.predictor.predict(image)
    assert a.dtype == b.dtype == np.float32 and mixed.predictor.precision == torch.bfloat16
    assert 0 < np.abs(a - b).max() < 0.05  # bfloat16 rounding, not another model
    assert plain.cache_key != mixed.cache_key


def test_the_float16_path_scales_the_loss_and_steps_through_the_grad_scaler(tiny, monkeypatch):
    """What a CUDA member runs (float16 autocast, a grad scaler) on the CPU: the device's own GradScaler is
    enabled, scales the loss and keeps its state in the resume checkpoint; the weights train finitely."""
    from models.run_folder import RunFolder

    config, _ = tiny
    monkeypatch.setattr(folds.engine, "amp_dtype", lambda device, enabled, requested: torch.float16)
    seen = recorded_dtypes(monkeypatch)
    scaled = []
    real_scale = torch.amp.GradScaler.scale
    monkeypatch.setattr(torch.amp.GradScaler, "scale",
                        lambda self, loss: scaled.append(self.is_enabled()) or real_scale(self, loss))
    result = train_fold(config("train.amp=true"), fold=0, quiet=True)
    assert seen["train"] == {torch.float16} and scaled and all(scaled)
    run = RunFolder(result.run_dir)
    assert run.load_resume()["scaler"]["scale"] > 0  # an enabled scaler's state (a disabled one saves {})
    assert np.isfinite(run.state().best_dice)

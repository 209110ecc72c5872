"""`train.ema_decay`: an exponential moving average of the weights, updated every optimiser step, kept as
the kept checkpoint, and restored bit for bit by --resume."""
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import folds.engine as engine
from errors import UserError
from folds.loggers import MetricLoggers
from folds.train import train_fold
from tests.test_engine import log_rows, member, straight_and_resumed

DECAY = 0.5  # far from 1, so every step shows in the average


def test_the_ema_is_the_hand_computed_average_of_the_weights_after_each_step(kvasir_root, tmp_path):
    """Batches of 2 (3 or more steps). EMA = p1, then d * EMA + (1 - d) * p_k."""
    config = member("kvasir", kvasir_root, tmp_path, "train.epochs=1", "train.batch_size=2",
                    f"train.ema_decay={DECAY}", "model.params={ch: 8}")
    trainer = engine.FoldTrainer(config, 0, quiet=True)
    after_steps = []
    trainer.optimizer.register_step_post_hook(
        lambda *_: after_steps.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()}))
    loggers = MetricLoggers(config.run, trainer.run.path, "ema", {})
    trainer.run_epoch(loggers)
    loggers.close()
    assert len(after_steps) == -(-len(trainer.train_set) // 2) >= 3
    expected = {k: v.double() for k, v in after_steps[0].items()}
    for step in after_steps[1:]:
        expected = {k: DECAY * expected[k] + (1 - DECAY) * step[k].double() for k in expected}
    averaged = trainer.ema.module.state_dict()
    floats = [k for k, v in averaged.items() if v.is_floating_point()]
    assert len(floats) > 10
    for key in floats:
        np.testing.assert_allclose(averaged[key].double().numpy(), expected[key].numpy(), rtol=1e-5, atol=1e-6)
    assert not torch.equal(averaged[floats[0]], trainer.model.state_dict()[floats[0]])  # not the raw weights
    saved = load_file(str(trainer.run.path / "model.safetensors"))  # the kept checkpoint is the average
    assert all(torch.equal(saved[k], averaged[k]) for k in floats)


def test_ema_survives_a_kill_and_resume_bit_for_bit(kvasir_root, tmp_path, monkeypatch):
    straight, resumed = straight_and_resumed(kvasir_root, tmp_path, monkeypatch, "train.epochs=3",
                                             "model.params={ch: 8}", f"train.ema_decay={DECAY}", "train.val_every=3")
    assert [r["epoch"] for r in log_rows(resumed.run_dir)] == ["1", "2", "3"]
    a, b = load_file(str(straight.run_dir / "model.safetensors")), load_file(str(resumed.run_dir / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_yolo_members_keep_ultralytics_own_ema(kvasir_root, tmp_path):
    """The family refuses the key before any work: no run folder appears."""
    config = member("kvasir", kvasir_root, tmp_path, "model.name=yolov8-seg", "model.params={}",
                    "train.ema_decay=0.9")
    with pytest.raises(UserError, match="train.ema_decay: yolov8-seg trains in ultralytics"):
        train_fold(config, fold=0, quiet=True)
    assert not (tmp_path / "run").exists()

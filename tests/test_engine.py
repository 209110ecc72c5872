"""train-fold end to end on tiny synthetic data."""
import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import folds.engine as engine
from configs.load import load_config
from configs.schema import MemberConfig, OptimConfig
from data import get_task
from data.splits import make_splits, write_splits
from folds.loggers import MetricLoggers
from folds.optim import build_optimizer
from folds.train import train_fold

ROOT = Path(__file__).resolve().parents[1]


def member(task: str, data_root: Path, tmp_path: Path, *overrides: str) -> MemberConfig:
    splits = tmp_path / "splits.json"
    if not splits.exists():
        write_splits(make_splits(get_task(task, data_root), k=2, seed=0), splits)
    return load_config(ROOT / f"configs/{task}/tiny.yaml", MemberConfig,
                       [f"data.root={data_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'run'}", *overrides])


def log_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "log.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def mixed_size_kvasir(kvasir_root, tmp_path):
    """The synthetic Kvasir set in the original layout, with images of several sizes."""
    root = tmp_path / "mixed"
    task = get_task("kvasir", kvasir_root)
    for i, case in enumerate(task.labelled_cases()):
        height, width = [(64, 64), (48, 80), (90, 70)][i % 3]
        image = cv2.resize(task.read_image(case), (width, height))
        mask = cv2.resize(task.read_mask(case)[0].astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_NEAREST)
        for folder, data in (("images", cv2.cvtColor(image, cv2.COLOR_RGB2BGR)), ("masks", mask)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / folder / f"c{i}.png"), data)
    return root


def test_one_epoch_writes_every_artefact_and_oof_on_the_member_grid(mixed_size_kvasir, tmp_path):
    config = member("kvasir", mixed_size_kvasir, tmp_path, "train.epochs=1", "run.tensorboard=true")
    result = train_fold(config, fold=1, quiet=True)
    run = result.run_dir
    assert run == tmp_path / "run" / "fold1"
    for name in ("model.safetensors", "state.json", "optimizer.pt", "log.csv"):
        assert (run / name).is_file()
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert cv2.imread(str(run / "curves.png")).shape == (300, 1000, 3)  # loss / Dice / lr, 10 x 3 in at 100 dpi
    task = get_task("kvasir", mixed_size_kvasir)
    val_cases = make_splits(task, k=2, seed=0).folds[1].val
    assert sorted(p.name for p in (run / "oof").iterdir()) == sorted(f"{Path(c).name}.npy" for c in val_cases)
    for case in val_cases:  # on the member's 64x64 grid (below train.oof_size), whatever the image's size
        oof = np.load(run / "oof" / f"{Path(case).name}.npy")
        assert oof.dtype == np.float16 and oof.shape == (1, 64, 64)
        assert 0 <= oof.min() and oof.max() <= 1
    assert len(log_rows(run)) == 1
    with pytest.raises(Exception, match="already holds a trained model"):
        train_fold(config, fold=1, quiet=True)


def test_handbone_member_trains_and_loss_falls(handbone_root, tmp_path):
    config = member("handbone", handbone_root, tmp_path, "train.epochs=4", "data.image_size=64")
    result = train_fold(config, fold=0, quiet=True)
    rows = log_rows(result.run_dir)
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    oof = sorted((result.run_dir / "oof").iterdir())
    assert len(oof) == 4 and np.load(oof[0]).shape == (29, 64, 64)


def straight_and_resumed(kvasir_root: Path, tmp_path: Path, monkeypatch, *overrides: str):
    """(an uninterrupted run, the same run killed in epoch 2 and resumed) of the tiny Kvasir member."""
    straight = train_fold(member("kvasir", kvasir_root, tmp_path, *overrides, f"run.dir={tmp_path / 'straight'}"),
                          fold=0, quiet=True)
    real_run_epoch = engine.FoldTrainer.run_epoch

    def killed_in_epoch_two(self, loggers):
        if self.epoch == 1:
            raise KeyboardInterrupt
        real_run_epoch(self, loggers)

    config = member("kvasir", kvasir_root, tmp_path, *overrides, f"run.dir={tmp_path / 'resumed'}")
    with monkeypatch.context() as patch:
        patch.setattr(engine.FoldTrainer, "run_epoch", killed_in_epoch_two)
        with pytest.raises(KeyboardInterrupt):
            train_fold(config, fold=0, quiet=True)
    assert len(log_rows(tmp_path / "resumed" / "fold0")) == 1
    return straight, train_fold(config, fold=0, resume=True, quiet=True)


def test_resume_after_a_kill_ends_where_an_uninterrupted_run_does(kvasir_root, tmp_path, monkeypatch):
    straight, resumed = straight_and_resumed(kvasir_root, tmp_path, monkeypatch, "train.epochs=3",
                                             "model.params={ch: 8}", "augment.affine=0.5")
    assert [r["epoch"] for r in log_rows(resumed.run_dir)] == ["1", "2", "3"]
    a, b = load_file(str(straight.run_dir / "model.safetensors")), load_file(str(resumed.run_dir / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    assert resumed.best_dice == pytest.approx(straight.best_dice, abs=1e-6)


def test_learns_a_trivial_set_to_dice_above_0_9(tmp_path):
    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (tmp_path / "easy" / folder).mkdir(parents=True)
    for i in range(24):
        mask = np.zeros((64, 64), np.uint8)
        y, x = rng.integers(4, 36, 2)
        h, w = rng.integers(14, 26, 2)
        mask[y:y + h, x:x + w] = 255
        image = np.where(mask[..., None] > 0, 220, 40).astype(np.uint8).repeat(3, 2)
        image = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / "easy" / "images" / f"{i}.png"), image)
        cv2.imwrite(str(tmp_path / "easy" / "masks" / f"{i}.png"), mask)
    config = member("kvasir", tmp_path / "easy", tmp_path, "train.epochs=10", "train.batch_size=2", "train.loss={bce_dice: 1}",
                    "augment.black_rectangle=0", "model.name=unetplusplus",
                    "model.params={encoder_name: resnet18, decoder_channels: [32, 16, 16, 8, 8]}")
    result = train_fold(config, fold=0, quiet=True)
    assert result.best_dice > 0.9


def test_swa_keeps_the_mean_of_the_weights_at_the_end_of_every_epoch_from_swa_start(kvasir_root, tmp_path):
    """A BatchNorm-free member (update_bn changes nothing), swa_start 1 of 3 epochs: the average is the plain
    mean of the weights after epochs 1, 2 and 3, computed here from copies taken after each epoch."""
    config = member("kvasir", kvasir_root, tmp_path, "model.name=stub-conv", "model.params={}", "train.epochs=3",
                    "train.swa_start=1", "train.swa_lr=0.001", "optim.name=sgd", "optim.lr=0.5")
    trainer = engine.FoldTrainer(config, 0, quiet=True)
    loggers = MetricLoggers(config.run, trainer.run.path, "swa", {})
    after_epochs = []
    for _ in range(3):
        trainer.run_epoch(loggers)
        after_epochs.append({k: v.detach().clone().double() for k, v in trainer.model.state_dict().items()})
    loggers.close()
    assert int(trainer.swa.n_averaged) == 3
    averaged = trainer.swa.module.state_dict()
    for key in after_epochs[0]:
        mean = sum(epoch[key] for epoch in after_epochs) / 3
        torch.testing.assert_close(averaged[key].double(), mean, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(after_epochs[0]["conv.weight"], after_epochs[-1]["conv.weight"])  # it did move


def test_lion_steps_by_the_sign_of_the_interpolated_momentum():
    """`optim.name: lion` (timm's Lion): p <- p (1 - lr wd) - lr sign(b1 m + (1 - b1) g), then
    m <- b2 m + (1 - b2) g, with b1 = 0.9, b2 = 0.99 (the Lion paper), checked over two steps by hand. The
    second gradients are chosen so that each coordinate's sign tells the rules apart: sign(g) alone gives
    (-, -, -), sign of the updated momentum (+, +, +), betas (0.95, 0.98) (+, +, -); Lion (+, -, -)."""
    lr, decay = 0.1, 0.5
    start = torch.tensor([1.0, -2.0, 0.5])
    parameter = torch.nn.Parameter(start.clone())
    optimizer = build_optimizer([parameter], OptimConfig(name="lion", lr=lr, weight_decay=decay))
    gradients = [torch.tensor([1.0, 1.0, 1.0]), torch.tensor([-0.05, -0.2, -0.5])]
    expected, momentum = start.clone(), torch.zeros(3)
    for gradient in gradients:
        parameter.grad = gradient.clone()
        optimizer.step()
        expected = expected * (1 - lr * decay) - lr * torch.sign(0.9 * momentum + 0.1 * gradient)
        momentum = 0.99 * momentum + 0.01 * gradient
    torch.testing.assert_close(parameter.detach(), expected)
    assert not torch.allclose(expected, start * (1 - lr * decay) ** 2)  # the sign term moved the weights


def test_accumulating_two_half_batches_is_one_step_of_the_whole_batch(kvasir_root, tmp_path):
    """A BatchNorm-free member, a per-pixel loss, no augmentation, plain SGD: batch 2 x accumulate 2 must end
    at the weights of batch 4 (same shuffled order); batch 2 without accumulation must not."""
    splits = tmp_path / "splits.json"
    folds = make_splits(get_task("kvasir", kvasir_root), k=2, seed=0)
    assert len(folds.folds[0].train) % 4 == 0  # no partial last step
    write_splits(folds, splits)
    common = ["model.name=stub-conv", "model.params={}", "train.loss={bce: 1.0}", "augment.hflip=0",
              "augment.black_rectangle=0", "optim.name=sgd", "optim.lr=0.5", "optim.momentum=0",
              "scheduler.name=none", "train.epochs=1"]
    weights = {}
    for label, batch, accumulate in (("accumulated", 2, 2), ("whole", 4, 1), ("half", 2, 1)):
        config = member("kvasir", kvasir_root, tmp_path, *common, f"train.batch_size={batch}",
                        f"train.accumulate={accumulate}", f"run.dir={tmp_path / label}")
        weights[label] = load_file(str(train_fold(config, fold=0, quiet=True).run_dir / "model.safetensors"))
    for name, value in weights["whole"].items():
        torch.testing.assert_close(weights["accumulated"][name], value, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(weights["half"]["conv.weight"], weights["whole"]["conv.weight"], atol=1e-4)


def test_wandb_asked_for_and_not_installed_is_one_line(kvasir_root, tmp_path, run_cli):
    if __import__("importlib").util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    config = member("kvasir", kvasir_root, tmp_path)  # writes the splits
    code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0",
                           "--set", f"data.root={kvasir_root}", f"data.splits={config.data.splits}",
                           f"run.dir={tmp_path / 'w'}", "run.wandb=true")
    assert code == 2 and "wandb is not installed" in err and len(err.strip().splitlines()) == 1


def test_wrong_fold_is_one_line(kvasir_root, tmp_path, run_cli):
    config = member("kvasir", kvasir_root, tmp_path)
    code, _, err = run_cli("train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "5",
                           "--set", f"data.root={config.data.root}", "--set", f"data.splits={config.data.splits}",
                           "--set", f"run.dir={tmp_path}/r")
    assert code == 2 and "fold 5 does not exist" in err


def test_prediction_never_runs_in_train_mode():
    """Validation shares the model with training: BN statistics must not move while predicting."""
    import models
    from models.predictors import ResizePredictor
    model = models.build("effisegnet-b0", ch=8)
    predictor = ResizePredictor(model, 64, torch.device("cpu"))
    model.train()  # as it is right after a training epoch
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = list(np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8))
    first = predictor.predict_batch(images)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    np.testing.assert_allclose(predictor.predict_batch(images[:1])[0], first[0], atol=1e-5)  # batch-independent


def test_splits_naming_a_missing_file_is_one_line(kvasir_root, tmp_path, run_cli):
    import json
    config = member("kvasir", kvasir_root, tmp_path)
    raw = json.loads(config.data.splits.read_text())
    raw["folds"][0]["val"].append("train/images/999.jpg")
    config.data.splits.write_text(json.dumps(raw))
    code, _, err = run_cli("train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0",
                           "--set", f"data.root={kvasir_root}", "--set", f"data.splits={config.data.splits}",
                           "--set", f"run.dir={tmp_path}/r")
    assert code == 2 and "train/images/999.jpg" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()

"""Faults: very long CSV rows, SIGKILL mid-training then --resume, an ensemble killed midway."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from configs.load import validate_config
from configs.schema import EnsembleConfig
from data import get_task
from data.splits import make_splits, write_splits
from ensemble.run import run_ensemble
from models.run_folder import RunFolder
from submit.submission import read_submission, write_submission
from tests.stubs import make_conv_run

ROOT = Path(__file__).resolve().parents[1]


def test_speckled_rows_longer_than_the_csv_field_limit_are_read_everywhere(tmp_path, run_cli):
    """A 512x512 mask of 50% noise is a ~560,000-character row (the csv module's default limit is 131,072)."""
    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    truth = rng.random((512, 512)) < 0.5
    cv2.imwrite(str(tmp_path / "data" / "images" / "a.png"), rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "data" / "masks" / "a.png"), truth.astype(np.uint8) * 255)
    csv = tmp_path / "speckled.csv"
    with write_submission(csv, ("polyp",)) as writer:
        writer.write_image("a.png", truth[None])
    assert len(csv.read_text()) > 4 * 131_072
    data = tmp_path / "data"
    assert run_cli("validate", "--task", "kvasir", "--csv", csv, "--images", data)[0] == 0
    code, out, _ = run_cli("--quiet", "score", "--task", "kvasir", "--csv", csv, "--data-root", data)
    assert code == 0 and "mean Dice: 1.0000" in out
    assert run_cli("--quiet", "vote", "--csv", csv, csv, "--min-votes", "2", "--out", tmp_path / "v.csv")[0] == 0
    assert read_submission(tmp_path / "v.csv")[0].rle == read_submission(csv)[0].rle
    assert run_cli("--quiet", "analyze", "--task", "kvasir", "--csv", csv, "--data-root", data,
                   "--out", tmp_path / "report")[0] == 0


def train_command(kvasir_root: Path, splits: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "cli.py"), "--quiet", "train-fold", "--config",
            str(ROOT / "configs/kvasir/tiny.yaml"), "--fold", "0", "--set", f"data.root={kvasir_root}",
            f"data.splits={splits}", f"run.dir={run_dir}", "train.epochs=6", "data.image_size=128",
            "train.batch_size=2", "train.threads=1", *extra]


def test_sigkill_mid_epoch_then_resume_gives_the_weights_of_an_uninterrupted_run(kvasir_root, tmp_path):
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    subprocess.run(train_command(kvasir_root, splits, tmp_path / "straight"), check=True, capture_output=True)
    killed_dir = tmp_path / "killed" / "fold0"
    process = subprocess.Popen(train_command(kvasir_root, splits, tmp_path / "killed"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed_dir / "optimizer.pt").is_file() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    time.sleep(0.3)  # into the next epoch
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    epochs_done = len((killed_dir / "log.csv").read_text().splitlines()) - 1
    assert 1 <= epochs_done < 6 and not (killed_dir / "oof").exists()
    subprocess.run(train_command(kvasir_root, splits, tmp_path / "killed", "--resume"), check=True,
                   capture_output=True)
    straight = load_file(str(tmp_path / "straight" / "fold0" / "model.safetensors"))
    resumed = load_file(str(killed_dir / "model.safetensors"))
    assert straight.keys() == resumed.keys()
    assert all(np.array_equal(straight[k].numpy(), resumed[k].numpy()) for k in straight)  # bit for bit


def test_resume_without_a_checkpoint_starts_fresh(kvasir_root, tmp_path):
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    result = subprocess.run(train_command(kvasir_root, splits, tmp_path / "run", "train.epochs=1", "--resume"),
                            capture_output=True, text=True)
    assert result.returncode == 0 and (tmp_path / "run" / "fold0" / "model.safetensors").is_file()


def test_an_ensemble_killed_midway_reuses_its_cache_and_writes_the_same_csv(kvasir_root, tmp_path, monkeypatch):
    make_conv_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), image_size=64, seed=21)
    config = validate_config({"task": "kvasir", "members": [str(tmp_path / "m" / "fold0")],
                              "data": {"root": str(kvasir_root / "test")}, "output": {"csv": str(tmp_path / "a.csv")},
                              "cache_dir": str(tmp_path / "cache")}, EnsembleConfig, "test")
    clean = run_ensemble(config.model_copy(update={"cache_dir": tmp_path / "clean_cache",
                                                   "output": config.output.model_copy(update={"csv": tmp_path / "clean.csv"})}),
                         quiet=True).read_bytes()
    from models.predictors import ResizePredictor
    real = ResizePredictor.predict_batch
    calls = []

    def dies_on_the_third_image(self, images):
        calls.append(len(images))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, images)

    monkeypatch.setattr(ResizePredictor, "predict_batch", dies_on_the_third_image)
    with pytest.raises(KeyboardInterrupt):
        run_ensemble(config, quiet=True)
    assert not (tmp_path / "a.csv").exists() and len(list((tmp_path / "cache").rglob("*.npy"))) == 2
    calls.clear()
    monkeypatch.setattr(ResizePredictor, "predict_batch", real)
    assert run_ensemble(config, quiet=True).read_bytes() == clean


@pytest.fixture
def slow_ensemble(kvasir_root, tmp_path):
    """A trained tiny member and 150 test images: an ensemble run long enough to be stopped midway."""
    from data.synthetic import make_kvasir
    from folds.train import train_fold

    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    from configs.load import load_config
    from configs.schema import MemberConfig
    config = load_config(ROOT / "configs/kvasir/tiny.yaml", MemberConfig, [
        f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'member'}", "train.epochs=1"])
    member = train_fold(config, fold=0, quiet=True).run_dir
    images = make_kvasir(tmp_path / "many", train=1, validation=1, test=150, size=160, seed=9) / "test"
    out = tmp_path / "out"
    out.mkdir()
    argv = [sys.executable, str(ROOT / "cli.py"), "--quiet", "ensemble", "--config",
            str(ROOT / "configs/ensemble/kvasir.yaml"), "--set", f"members=[{member}]", f"data.root={images}",
            f"output.csv={out / 'sub.csv'}"]
    return argv, out


def test_sigterm_during_ensemble_leaves_the_output_folder_as_it_was(slow_ensemble):
    argv, out = slow_ensemble
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not any(p.name.endswith(".tmp") and p.is_dir() for p in out.iterdir()) and time.time() < deadline:
        time.sleep(0.02)  # the masks' temporary folder: voting has begun
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143 and err.count("\n") == 1 and "interrupted" in err, err
    assert list(out.iterdir()) == []


def test_a_second_train_fold_on_the_same_run_folder_is_refused_and_the_lock_never_goes_stale(kvasir_root,
                                                                                          tmp_path):
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    long_run = train_command(kvasir_root, splits, tmp_path / "run", "train.epochs=1000")  # killed long before
    first = subprocess.Popen(long_run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "run" / "fold0" / "state.json"
    deadline = time.time() + 120
    while not state.is_file() and time.time() < deadline:  # written once the lock is held
        time.sleep(0.05)
    second = subprocess.run(long_run + ["--resume"], capture_output=True, text=True)
    assert first.poll() is None, "the first run ended before the second started"
    assert second.returncode == 2 and "being written by another train-fold" in second.stderr
    assert second.stderr.count("\n") == 1
    first.send_signal(signal.SIGKILL)  # a crash: the kernel drops its lock with the process
    first.wait()
    RunFolder(tmp_path / "run" / "fold0").lock()  # what the next train-fold takes first: free again


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_get_the_mode_a_plain_open_gives(kvasir_root, tmp_path, run_cli, umask, mode):
    member = tmp_path / "m" / "fold0"
    make_conv_run(member, "kvasir", ("polyp",), image_size=32, seed=4)
    previous = os.umask(umask)
    try:
        code, _, err = run_cli("--quiet", "ensemble", "--config", ROOT / "configs/ensemble/kvasir.yaml", "--set",
                               f"members=[{member}]", f"data.root={kvasir_root / 'test'}",
                               f"output.csv={tmp_path / 'sub.csv'}")
        assert code == 0, err
        RunFolder(tmp_path / "w").save_weights(torch.nn.Linear(2, 2))  # safetensors writes its own temporary file
    finally:
        os.umask(previous)
    assert (tmp_path / "w" / "model.safetensors").stat().st_mode & 0o777 == mode
    assert (tmp_path / "sub.csv").stat().st_mode & 0o777 == mode
    assert all(p.stat().st_mode & 0o777 == mode for p in (tmp_path / "sub_masks").iterdir())


def test_an_unexpected_error_is_one_line_and_exit_1_with_the_traceback_behind_debug(kvasir_root, tmp_path, run_cli,
                                                                                    monkeypatch):
    import submit.validate

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(submit.validate, "validate_csv", broken)
    argv = ("validate", "--task", "kvasir", "--csv", tmp_path / "x.csv", "--images", kvasir_root)
    code, _, err = run_cli(*argv)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: unexpected failure while running validate: RuntimeError: disk on fire")
    code, _, err = run_cli("--debug", *argv)
    assert code == 1 and "Traceback (most recent call last)" in err


def test_a_refused_command_writes_nothing_under_home_or_the_temp_folder(tmp_path):
    """matplotlib's, torch inductor's and ultralytics' caches stay out of the user's folders."""
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "TORCHINDUCTOR_CACHE_DIR", "YOLO_CONFIG_DIR")}
    env.update(HOME=str(home), TMPDIR=str(temp))
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "cli.py"), "ensemble", "--config",
                           str(root / "configs/ensemble/kvasir.yaml"), "--set", f"data.root={tmp_path / 'none'}"],
                          env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "data root" in done.stderr
    assert list(home.iterdir()) == [] and list(temp.iterdir()) == []

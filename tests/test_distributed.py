"""train-fold under torchrun: 2 CPU processes (gloo) write one set of artefacts, and their reduced
validation Dice is the Dice of a single-process evaluation of the same weights."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from data import get_task
from data.splits import make_splits, write_splits
from evaluate.score import score_csv

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun_train(kvasir_root: Path, splits: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(free_port()), str(ROOT / "cli.py"), "--quiet", "train-fold",
            "--config", str(ROOT / "configs/kvasir/tiny.yaml"), "--fold", "0",
            "--set", f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={run_dir}",
            "train.epochs=2", "train.batch_size=1", "train.threads=1", *extra]  # several steps an epoch


@pytest.fixture(scope="module")
def ddp_run(kvasir_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("ddp")
    splits = work / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    command = torchrun_train(kvasir_root, splits, work / "run")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return work, splits, work / "run" / "fold0"


def test_two_processes_write_exactly_one_set_of_artefacts(ddp_run, kvasir_root):
    _, splits, run = ddp_run
    assert sorted(p.name for p in run.iterdir()) == [".lock", "curves.png", "log.csv", "model.safetensors", "oof", "optimizer.pt",
                                                     "state.json"]
    state = json.loads((run / "state.json").read_text())
    val = json.loads(splits.read_text())["folds"][0]["val"]
    assert state["world_size"] == 2 and state["val_cases"] == val and state["oof_done"]
    assert sorted(p.name for p in (run / "oof").iterdir()) == sorted(f"{Path(c).name}.npy" for c in val)
    assert [line.split(",")[0] for line in (run / "log.csv").read_text().splitlines()[1:]] == ["1", "2"]


def test_reduced_validation_dice_equals_a_single_process_evaluation(ddp_run, kvasir_root, run_cli):
    work, _, run = ddp_run
    state = json.loads((run / "state.json").read_text())
    val = work / "val"
    for case in state["val_cases"]:  # the validation cases as a labelled folder (Kvasir's original layout)
        image = kvasir_root / case
        for folder in ("images", "masks"):
            (val / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(image.parent.parent / folder / image.name, val / folder / image.name)
    csv = work / "val.csv"
    code, _, err = run_cli("--quiet", "ensemble", "--config", ROOT / "configs/ensemble/kvasir.yaml", "--set",
                           f"members=[{{path: {run}, tta: none}}]", f"data.root={val}", f"output.csv={csv}")
    assert code == 0, err
    assert score_csv("kvasir", csv, val, quiet=True).mean_dice == pytest.approx(state["best_dice"], abs=1e-6)


def test_resume_with_another_number_of_processes_is_refused(ddp_run, kvasir_root, run_cli):
    work, splits, _ = ddp_run
    code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0",
                           "--set", f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={work / 'run'}",
                           "train.epochs=2", "train.batch_size=1", "--resume")
    assert code == 2 and "world_size 2" in err


def killed_after_epoch_one(command: list[str], log: Path) -> None:
    """Start `command` in its own process group and SIGKILL the group the moment epoch 1 is logged (its
    resume state is saved before its log row)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not (log.is_file() and len(log.read_text().splitlines()) >= 2):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its first epoch"
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_run_killed_under_torchrun_resumes_on_both_ranks_to_the_uninterrupted_weights(ddp_run, kvasir_root):
    """Killed after epoch 1 and resumed by the same torchrun command: epoch 2 runs once, on both ranks from the
    saved state (a rank that did not restore its epoch would train one epoch more and wait at a collective),
    ending at the uninterrupted run's last weights, with its OOF written; rank 0 alone reports. (Which rank's
    weights and optimiser state are restored is not observable here: DDP keeps the ranks' parameters equal to
    rank 0's.)"""
    work, splits, straight = ddp_run
    run = work / "killed" / "fold0"
    killed_after_epoch_one(torchrun_train(kvasir_root, splits, work / "killed"), run / "log.csv")
    assert [line.split(",")[0] for line in (run / "log.csv").read_text().splitlines()[1:]] == ["1"]
    assert not (run / "oof").exists() or not any((run / "oof").iterdir())
    result = subprocess.run(torchrun_train(kvasir_root, splits, work / "killed", "--resume"), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("best mean Dice") == 1
    assert [line.split(",")[0] for line in (run / "log.csv").read_text().splitlines()[1:]] == ["1", "2"]
    a, b = (torch.load(folder / "optimizer.pt", weights_only=True)["model"] for folder in (straight, run))  # last epoch's
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    state = json.loads((run / "state.json").read_text())
    assert state["oof_done"] and len(list((run / "oof").iterdir())) == len(state["val_cases"])

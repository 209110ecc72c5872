"""The ensemble under the launchers users run: torchrun (2 gloo processes on the CPU) writes the bytes one
process writes; `--shard auto` takes a SLURM array task's shard; a failed rank fails the whole command."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from configs.schema import ModelConfig
from data import get_task
from ensemble.members import image_key
from ensemble.shards import Shard
from errors import UserError
from models import build_model
from tests.stubs import make_run
from tests.test_distributed import free_port
from tests.test_shards import ensemble_argv

ROOT = Path(__file__).resolve().parents[1]
SMP = {"arch": "Unet", "encoder_name": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 8, 4]}


def make_smp_run(path: Path, task: str, classes: tuple[str, ...]) -> None:
    """A random-weight smp member: a registered family, so a fresh torchrun process can build it."""
    model = build_model(ModelConfig.model_validate({"name": "smp", "params": SMP}), len(classes), with_pretrained=False)
    make_run(path, task, classes, model, "smp", SMP, image_size=32)


def torchrun(*argv) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), str(ROOT / "cli.py"), *map(str, argv)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def member_for(tmp_path, kvasir_root, handbone_root):
    def make(task: str) -> tuple[Path, Path]:
        data_root = kvasir_root / "test" if task == "kvasir" else handbone_root
        member = tmp_path / "members" / task / "fold0"
        make_smp_run(member, task, get_task(task, data_root).classes)
        return member, data_root
    return make


@pytest.mark.parametrize("task", ["kvasir", "handbone"])
def test_torchrun_writes_the_bytes_of_one_process(task, member_for, tmp_path, run_cli):
    member, data_root = member_for(task)
    single, launched = tmp_path / "single", tmp_path / "launched"
    code, _, err = run_cli(*ensemble_argv(task, member, data_root, single / "sub.csv"))
    assert code == 0, err
    result = torchrun(*ensemble_argv(task, member, data_root, launched / "sub.csv"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines() == [str(launched / "sub.csv")]  # rank 0 alone prints the CSV
    assert listing(launched) == listing(single)  # the CSV and, for Kvasir, every PNG mask; no partials left
    if task == "kvasir":
        assert len(list((launched / "sub_masks").glob("*.png"))) == len(get_task(task, data_root).test_images())


def test_a_failed_rank_fails_the_command_with_no_csv(member_for, tmp_path, run_cli):
    member, data_root = member_for("kvasir")
    cache, out = tmp_path / "cache", tmp_path / "out"
    out.mkdir()
    args = [*ensemble_argv("kvasir", member, data_root, out / "sub.csv"), f"cache_dir={cache}"]
    assert run_cli(*ensemble_argv("kvasir", member, data_root, tmp_path / "fill.csv"), f"cache_dir={cache}")[0] == 0
    task = get_task("kvasir", data_root)
    second = task.test_images()[1]  # rank 1's first image (shard 1/2 takes every 2nd from the 2nd)
    (entry,) = cache.glob(f"*/{image_key(task.read_image(second))}.npy")
    entry.write_bytes(b"not an array")
    before = listing(tmp_path)
    result = torchrun(*args)
    assert result.returncode != 0
    assert f"corrupt cache entry {entry}" in result.stderr  # rank 1's own line
    assert "torchrun rank 1 failed" in result.stderr  # rank 0's line
    assert listing(tmp_path) == before  # no CSV, no masks, no partial left by either rank


@pytest.mark.parametrize("environ, shard", [
    ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0"}, (2, 4)),
    ({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "3",
      "SLURM_ARRAY_TASK_MAX": "5"}, (2, 3)),  # --array=3-5
    ({"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1",
      "SLURM_ARRAY_TASK_STEP": "3"}, (2, 3)),  # --array=1-7:3 runs tasks 1, 4, 7
])
def test_shard_auto_takes_the_array_tasks_shard(environ, shard):
    assert Shard.parse("auto", environ) == Shard(*shard)


def test_shard_auto_n_keeps_a_resubmitted_tasks_shard():
    """--array=5,7 resubmitted after tasks 5 and 7 of --array=0-9 failed: auto:10 gives shards 5 and 7 of 10."""
    resubmitted = {"SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "5"}
    assert [Shard.parse("auto:10", {**resubmitted, "SLURM_ARRAY_TASK_ID": t}) for t in ("5", "7")] == \
        [Shard(5, 10), Shard(7, 10)]
    with pytest.raises(UserError, match="expected I/N"):
        Shard.parse("auto:10", {"SLURM_ARRAY_TASK_ID": "12"})


@pytest.mark.parametrize("environ, fragment", [
    ({}, "SLURM_ARRAY_TASK_ID is not set"),
    ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0"}, "must be integers"),
    ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0"}, "task 4 is not one"),
])
def test_shard_auto_outside_an_array_is_one_line(environ, fragment):
    with pytest.raises(UserError, match=fragment):
        Shard.parse("auto", environ)


def test_shard_auto_through_the_cli_writes_that_shard(member_for, tmp_path, run_cli, monkeypatch):
    member, data_root = member_for("kvasir")
    for name, value in {"SLURM_ARRAY_TASK_ID": "11", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "10"}.items():
        monkeypatch.setenv(name, value)
    code, _, err = run_cli(*ensemble_argv("kvasir", member, data_root, tmp_path / "auto.csv", "--shard", "auto"))
    assert code == 0, err
    code, _, err = run_cli(*ensemble_argv("kvasir", member, data_root, tmp_path / "hand.csv", "--shard", "1/2"))
    assert code == 0, err
    assert (tmp_path / "auto.csv").read_bytes() == (tmp_path / "hand.csv").read_bytes()
    assert '"shard": 1' in (tmp_path / "auto.csv.shard.json").read_text()


def test_a_rank_0_failure_while_merging_ends_every_rank_at_once_with_no_csv(member_for, tmp_path):
    """Rank 0's merge raises (injected by a launcher script that wraps the CLI): rank 0 says why, rank 1 says
    that rank 0 failed instead of waiting at the barrier for torchrun's timeout, and no CSV, mask or partial
    is left."""
    member, data_root = member_for("kvasir")
    out = tmp_path / "out"
    out.mkdir()
    launcher = tmp_path / "broken_merge.py"
    launcher.write_text(f"""import sys
sys.path.insert(0, {str(ROOT)!r})
import ensemble.torchrun
from errors import UserError

def broken_merge(*args, **kwargs):
    raise UserError("the merge broke on purpose")

ensemble.torchrun.merge_shards = broken_merge
from cli import main
sys.exit(main(sys.argv[1:]))
""")
    before = listing(tmp_path)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                             "127.0.0.1", "--master_port", str(free_port()), str(launcher),
                             *ensemble_argv("kvasir", member, data_root, out / "sub.csv")],
                            capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ,
                                                                                       "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0
    assert "the merge broke on purpose" in result.stderr  # rank 0's own line
    assert "torchrun rank 0 failed while merging" in result.stderr  # rank 1's line
    assert time.monotonic() - started < 120  # not torchrun's or gloo's timeout (minutes)
    assert listing(tmp_path) == before

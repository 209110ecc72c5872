"""Faults, part four: outputs that are not regular files are refused, SIGTERM is never swallowed (not even during
`import torch`), outputs that belong together land together, a closed pipe and a full disk are one line."""
import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import atomic
from errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def empty_csv(folder: Path, path: Path) -> Path:
    """A valid Kvasir CSV predicting nothing for every image of `folder`."""
    names = sorted(p.name for p in (folder / "images").iterdir())
    path.write_text("image_name,class,rle\n" + "".join(f"{n},polyp,\n" for n in names))
    return path


def writers(kvasir_root: Path, tmp_path: Path) -> dict[str, list]:
    """Commands that write one file, each with its output flag last."""
    val = kvasir_root / "validation"
    a, b = empty_csv(val, tmp_path / "a.csv"), empty_csv(val, tmp_path / "b.csv")
    return {"compare": ["compare", "--task", "kvasir", "--csv", a, b, "--data-root", val, "--out"],
            "split": ["split", "--task", "kvasir", "--data-root", kvasir_root, "--out"],
            "vote": ["vote", "--csv", a, b, "--min-votes", "1", "--out"]}


def special_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    files = {"fifo": fifo}
    if os.geteuid() == 0:  # a character device like /dev/null (major 1, minor 3)
        device = tmp_path / "null"
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        files["device"] = device
    return files


@pytest.mark.parametrize("command", ["compare", "split", "vote"])
def test_an_output_that_is_a_device_or_a_fifo_is_refused_and_left_as_it_is(command, kvasir_root, tmp_path, run_cli):
    argv = writers(kvasir_root, tmp_path)[command]
    for kind, target in special_files(tmp_path).items():
        mode = os.stat(target).st_mode
        code, _, err = run_cli("--quiet", *argv, target)
        assert code == 2 and "not a regular file" in err and err.count("\n") == 1, (kind, err)
        assert os.stat(target).st_mode == mode  # still the FIFO / device it was
    assert not list(tmp_path.glob(".*.tmp"))


def test_sigterm_during_import_torch_stops_the_command(kvasir_root, tmp_path):
    """torch's import catches Exception around its library preload; SIGTERM arrives while it runs (libtorch is
    mapped into the process but the import has not returned) and must still end the command: 143, one line."""
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "--quiet", "train-fold", "--config",
                                str(ROOT / "configs/kvasir/tiny.yaml"), "--fold", "0", "--set",
                                f"data.root={kvasir_root}", f"run.dir={tmp_path / 'run'}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    maps, deadline = Path(f"/proc/{process.pid}/maps"), time.monotonic() + 60
    while "libtorch" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143 and "interrupted (stopped by SIGTERM)" in err and err.count("\n") == 1, err
    assert out == "" and not (tmp_path / "run").exists()


def test_outputs_that_belong_together_land_together_even_when_a_signal_arrives_between(tmp_path, monkeypatch):
    """A SIGTERM raised by the first rename is held back until the second is done: both files are new."""
    first, second = tmp_path / "w.bin", tmp_path / "w.bin.json"
    first.write_text("old"), second.write_text("old")
    real_replace, fired = os.replace, []

    def replace_then_signal(src, dst):
        real_replace(src, dst)
        if not fired:
            fired.append(dst)
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt("term")))
    try:
        monkeypatch.setattr(os, "replace", replace_then_signal)
        with pytest.raises(KeyboardInterrupt):
            with atomic.atomic_paths(first, second) as (a, b):
                a.write_text("new"), b.write_text("new")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert fired and first.read_text() == "new" and second.read_text() == "new"


def test_a_closed_pipe_ends_score_quietly(kvasir_root, tmp_path):
    csv = empty_csv(kvasir_root / "validation", tmp_path / "a.csv")
    result = subprocess.run(f"{sys.executable} {ROOT / 'cli.py'} --quiet score --task kvasir --csv {csv} "
                            f"--data-root {kvasir_root / 'validation'} | head -c 0", shell=True, capture_output=True,
                            text=True, executable="/bin/bash")
    assert result.stderr == "" and result.returncode == 0  # the pipeline's status is head's


def test_a_full_disk_names_the_output(tmp_path, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        with atomic.atomic_path(tmp_path / "out.csv") as tmp:
            monkeypatch.setattr(Path, "write_text", full)
            tmp.write_text("x")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []


def test_check_target_refuses_a_fifo_in_one_line(tmp_path):
    fifo = special_files(tmp_path)["fifo"]
    with pytest.raises(UserError, match="not a regular file"):
        atomic.check_target(fifo)


@pytest.mark.parametrize("argv, flag", [
    (["compare", "--resamples", "1000000000"], "--resamples"),
    (["compare", "--seed", "-1"], "--seed"),
    (["split", "--seed", "-1"], "--seed"),
    (["split", "--seed", str(2**40)], "--seed"),
    (["synth", "--size", "100000"], "--size"),
    (["synth", "--seed", "-1"], "--seed"),
    (["synth", "--count", "0"], "--count"),
])
def test_sizes_and_seeds_out_of_range_are_one_line_before_anything_is_made(argv, flag, kvasir_root, tmp_path,
                                                                           run_cli):
    val, out = kvasir_root / "validation", tmp_path / "out"
    rest = {"compare": ["--task", "kvasir", "--csv", empty_csv(val, tmp_path / "a.csv"),
                        empty_csv(val, tmp_path / "b.csv"), "--data-root", val, "--out", out],
            "split": ["--task", "kvasir", "--data-root", kvasir_root, "--out", out],
            "synth": ["--task", "kvasir", "--out", out]}[argv[0]]
    code, _, err = run_cli("--quiet", *argv, *rest)
    assert code == 2 and flag in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_base_config_that_is_not_a_bounded_regular_file_is_one_line(kind, tmp_path, run_cli):
    if kind == "huge":
        base = tmp_path / "huge.yaml"
        base.write_text("# " + "x" * 2_000_000 + "\n")
    else:
        base = special_files(tmp_path).get("fifo" if kind == "fifo" else "device")
        if base is None:
            pytest.skip("mknod needs root")
    config = tmp_path / "member.yaml"
    config.write_text(f"base: {base}\n")
    code, _, err = run_cli("--quiet", "train-fold", "--config", config, "--fold", "0")
    assert code == 2 and str(base) in err and err.count("\n") == 1, err

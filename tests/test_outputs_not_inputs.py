"""No command's output may be, or lie inside, one of its inputs: every output flag aimed at every input the
command reads (hypothesis draws the pairs) and the hand-picked cases of earlier defects; each is one line,
exit 2, and every input byte for byte unchanged."""
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data import get_task
from data.splits import make_splits, write_splits
from tests.stubs import make_stub_run

ROOT = Path(__file__).resolve().parents[1]
ENSEMBLE_KVASIR = ROOT / "configs/ensemble/kvasir.yaml"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, kvasir_root) -> dict[str, Path]:
    """Every input the commands below read, in one folder the property compares byte for byte."""
    from submit.submission import write_submission
    work = tmp_path_factory.mktemp("outputs")
    shutil.copytree(kvasir_root, work / "kvasir")
    member = work / "runs" / "fold0"
    make_stub_run(member, "kvasir", ("polyp",), size=32, seed=1)
    write_splits(make_splits(get_task("kvasir", work / "kvasir"), k=2), work / "splits.json")
    config = work / "ensemble.yaml"
    config.write_text(yaml.safe_dump({"task": "kvasir", "members": [str(member)],
                                      "data": {"root": str(work / "kvasir" / "test")},
                                      "output": {"csv": str(work / "new.csv")}}))
    test_images = sorted((work / "kvasir" / "test" / "images").iterdir())
    for name in ("a.csv", "b.csv"):
        with write_submission(work / name, ("polyp",)) as writer:
            for image in sorted((work / "kvasir" / "validation" / "images").iterdir()):
                writer.write_image(image.name, np.zeros((1, 64, 64), bool))
    return {"work": work, "member": member, "state": member / "state.json",
            "model": next(p for p in member.iterdir() if p.suffix == ".safetensors"),
            "config": config, "splits": work / "splits.json",
            "test image": test_images[0], "test images": test_images[0].parent, "test root": test_images[0].parents[1],
            "data root": work / "kvasir", "mask": next((work / "kvasir" / "validation" / "masks").iterdir()),
            "validation images": work / "kvasir" / "validation" / "images",
            "validation root": work / "kvasir" / "validation",
            "a.csv": work / "a.csv", "b.csv": work / "b.csv"}


# command -> (argv with OUT where the output goes, the inputs it reads that OUT may be aimed at)
COMMANDS: dict[str, tuple[Callable[[dict], list], list[str]]] = {
    "ensemble": (lambda i: ["ensemble", "--config", i["config"], "--set", "output.csv=OUT"],
                 ["test image", "state", "model", "config", "test images", "member"]),
    "tune-thresholds": (lambda i: ["tune-thresholds", "--config", i["config"], "--out", "OUT"],
                        ["state", "model", "config", "member"]),
    "tune-ensemble": (lambda i: ["tune-ensemble", "--config", i["config"], "--out", "OUT"],
                      ["state", "model", "config", "member"]),
    "pseudo-label": (lambda i: ["pseudo-label", "--config", i["config"], "--splits", i["splits"], "--out", "OUT"],
                     ["test images", "test root", "member", "splits", "config", "test image"]),
    "compare": (lambda i: ["compare", "--task", "kvasir", "--data-root", i["data root"] / "validation", "--csv",
                           i["a.csv"], i["b.csv"], "--out", "OUT"], ["a.csv", "b.csv", "mask"]),
    "vote": (lambda i: ["vote", "--csv", i["a.csv"], i["b.csv"], "--min-votes", "1", "--out", "OUT"],
             ["a.csv", "b.csv"]),
    "split": (lambda i: ["split", "--task", "kvasir", "--data-root", i["data root"] / "validation", "--k", "2",
                         "--out", "OUT"], ["mask", "validation images"]),
    "analyze": (lambda i: ["analyze", "--task", "kvasir", "--csv", i["a.csv"], "--data-root",
                           i["data root"] / "validation", "--out", "OUT"], ["a.csv", "validation root", "mask"]),
}
PAIRS = [(command, target) for command, (_, targets) in COMMANDS.items() for target in targets]


def snapshot(folder: Path) -> dict[Path, bytes | None]:
    return {p: None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def test_no_output_of_any_command_may_be_one_of_its_inputs(inputs, run_cli):
    before = snapshot(inputs["work"])

    @settings(max_examples=3 * len(PAIRS), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(pair=st.sampled_from(PAIRS), inside=st.booleans())
    def fuzz(pair, inside):
        command, target = pair
        out = inputs[target] / "out" if inside and inputs[target].is_dir() else inputs[target]
        argv = [str(a).replace("OUT", str(out)) if str(a).endswith("OUT") else str(a)
                for a in COMMANDS[command][0](inputs)]
        code, stdout, err = run_cli("--quiet", *argv)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (argv, code, err or stdout)
        assert snapshot(inputs["work"]) == before, argv

    fuzz()


def test_no_output_may_be_or_lie_inside_an_input(kvasir_root, tmp_path, run_cli):
    """ensemble's CSV on a test image or a member's state.json, tune-thresholds on a member's state.json,
    pseudo-label inside the data root: each one line, exit 2, every input unchanged."""
    member = tmp_path / "m" / "fold0"
    make_stub_run(member, "kvasir", ("polyp",), size=32, seed=1)
    images = kvasir_root / "test"
    image = sorted((images / "images").iterdir())[0]
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    listing = {p: p.read_bytes() for root in (images, member) for p in sorted(root.rglob("*")) if p.is_file()}
    base = ["--config", ENSEMBLE_KVASIR, "--set", f"members=[{member}]", f"data.root={images}"]
    for argv in ((*("ensemble", *base), f"output.csv={image}"),
                 (*("ensemble", *base), f"output.csv={member / 'state.json'}"),
                 ("tune-thresholds", *base, "--out", member / "state.json"),
                 ("pseudo-label", *base, "--out", images / "pseudo", "--splits", splits)):
        code, _, err = run_cli("--quiet", *argv)
        assert code == 2 and ("input" in err) and len(err.strip().splitlines()) == 1, (argv, err)
    assert {p: p.read_bytes() for root in (images, member) for p in sorted(root.rglob("*")) if p.is_file()} == listing


def test_a_hand_bone_masks_folder_among_the_patient_folders_is_refused(handbone_root, tmp_path, run_cli):
    """Test images are every PNG under test/DCM at any depth: masks written beside the patient folders would be
    read as test images by the next ensemble."""
    member = tmp_path / "m" / "fold0"
    make_stub_run(member, "handbone", get_task("handbone", handbone_root).classes, size=32, seed=1)
    dcm = handbone_root / "test" / "DCM"
    listing = sorted(dcm.rglob("*"))
    code, _, err = run_cli("--quiet", "ensemble", "--config", ROOT / "configs/ensemble/handbone.yaml", "--set",
                           f"members=[{member}]", f"data.root={handbone_root}", f"output.csv={tmp_path / 'sub.csv'}",
                           f"output.masks_dir={dcm / 'masks'}")
    assert code == 2 and f"lies inside {dcm}" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(dcm.rglob("*")) == listing and not (tmp_path / "sub.csv").exists()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_output_of_any_command_may_replace_a_fifo_or_a_device(command, inputs, tmp_path, run_cli):
    """Every command's output aimed at a FIFO (and, as root, a character device like /dev/null): one line, exit 2,
    the special file left as it is (an atomic rename would have replaced it with a regular file)."""
    import os
    import stat
    targets = [tmp_path / "fifo"]
    os.mkfifo(targets[0])
    if os.geteuid() == 0:
        targets.append(tmp_path / "null")
        os.mknod(targets[1], stat.S_IFCHR | 0o666, os.makedev(1, 3))
    before = snapshot(inputs["work"])
    for target in targets:
        mode = os.stat(target).st_mode
        argv = [str(a).replace("OUT", str(target)) if str(a).endswith("OUT") else str(a)
                for a in COMMANDS[command][0](inputs)]
        code, stdout, err = run_cli("--quiet", *argv)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (argv, code, err or stdout)
        assert os.stat(target).st_mode == mode, argv
    assert snapshot(inputs["work"]) == before

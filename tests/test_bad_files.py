"""Files a viewer would refuse or show otherwise, labels that are not what the format says, split entries
that are not cases, JSON values that are not finite numbers -- and commands that fail after they started
writing: each is one line naming the file (exit 2), and the tree is exactly as before, parents included."""
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

from data import get_task
from data.images import MAX_PIXELS
from data.splits import make_splits, write_splits
from tests.test_bad_inputs import ENSEMBLE_KVASIR, KVASIR_TINY, Inputs, corrupt, edit_json


def kvasir_copy(i: Inputs, change: Callable[[Path], object] = lambda root: None) -> Path:
    """A copy of the tiny Kvasir set (outside `work`), changed by `change(root)`."""
    root = i.work.parent / "kv"
    if not root.exists():
        shutil.copytree(i.kvasir, root)
        change(root)
    return root


def train_on(i: Inputs, root: Path, *overrides: str, splits: Path | None = None) -> list[str]:
    """train-fold of the tiny member on `root`, its run folder two levels below a folder that does not exist."""
    if splits is None:
        splits = i.work.parent / "kv_splits.json"
        write_splits(make_splits(get_task("kvasir", root), k=2), splits)
    return ["train-fold", "--config", str(KVASIR_TINY), "--fold", "0", "--set", f"data.root={root}",
            f"data.splits={splits}", f"run.dir={i.work / 'new' / 'runs'}", "train.epochs=1", *overrides]


def ensemble_on(i: Inputs, test_root: Path, *overrides: str) -> list[str]:
    return ["ensemble", "--config", str(ENSEMBLE_KVASIR), "--set", f"members=[{i.member()}]",
            f"data.root={test_root}", f"output.csv={i.work / 'new' / 'deeper' / 'out.csv'}", *overrides]


def cut_short(path: Path) -> Path:
    """Keep the first 60% of a file (a JPEG cut inside its scan: OpenCV would decode it, greyed)."""
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * 0.6)])
    return path


def bomb(path: Path) -> Path:
    """A tiny PNG whose header says it is larger than MAX_PIXELS."""
    side = int(MAX_PIXELS ** 0.5) + 16
    Image.new("1", (side, side)).save(path.with_suffix(".png"))
    if path.suffix != ".png":
        path.with_suffix(".png").rename(path)
    return path


def resized(path: Path, factor: int = 2) -> Path:
    """The image at `path` rewritten at `factor` times its size, in its own format."""
    with Image.open(path) as image:
        bigger = image.resize((image.width * factor, image.height * factor))
    bigger.save(path, format="JPEG" if path.suffix == ".jpg" else "PNG")
    return path


def first(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[0]


def splits_with(i: Inputs, root: Path, change: Callable[[dict], None]) -> Path:
    path = i.work.parent / "edited_splits.json"
    write_splits(make_splits(get_task("kvasir", root), k=2), path)
    return edit_json(path, change)


def thresholds_set(i: Inputs, text: str) -> str:
    """`thresholds=FILE` for a thresholds file holding `text`."""
    return f"thresholds={corrupt(i.work / 't.json', text.encode())}"


def weights_file(i: Inputs, value: str) -> Path:
    text = json.dumps({"members": [str(i.member())], "weights": {"polyp": {str(i.member()): 1.0}},
                       "thresholds": {"polyp": 0.5}}).replace("1.0", value)
    return corrupt(i.work / "w.json", text.encode())


def hand_label(i: Inputs, change: Callable[[dict], None]) -> Path:
    root = i.handbone_copy()
    edit_json(first(root, "train/outputs_json/*/*.json"), change)
    return root


def set_point(raw: dict, value) -> None:
    raw["annotations"][0]["points"][0][0] = value


def deeply_nested(path: Path) -> Path:
    """A JSON document 100,000 lists deep: Python's parser runs out of recursion."""
    path.write_text("[" * 100000 + "]" * 100000)
    return path


def latin1_config(i: Inputs) -> Path:
    path = i.work.parent / "latin1.yaml"
    path.write_bytes(KVASIR_TINY.read_bytes() + "# caf\u00e9 au lait\n".encode("latin-1"))
    return path


def non_utf8_name(root: Path) -> None:
    image = first(root, "test/images/*.jpg")
    os.rename(bytes(image), bytes(image.parent) + b"/caf\xe9.jpg")


def saved(path: Path, value) -> Path:
    torch.save(value, path)
    return path


CASES: list[tuple[str, Callable[[Inputs], list[str]], str]] = [
    # decoders: damaged, oversized, wrong size, not an image
    ("train: a training JPEG cut short", lambda i: train_on(i, kvasir_copy(
        i, lambda r: cut_short(first(r, "train/images/*.jpg")))), "the JPEG is cut short"),
    ("train: a mask cut short", lambda i: train_on(i, kvasir_copy(
        i, lambda r: cut_short(first(r, "train/masks/*")))), "cut short"),
    ("train: a decompression bomb", lambda i: train_on(i, kvasir_copy(
        i, lambda r: bomb(first(r, "train/images/*.jpg")))), "decompression bomb"),
    ("train: mask of another size than its image", lambda i: train_on(i, kvasir_copy(
        i, lambda r: resized(first(r, "train/masks/*")))), "but its image"),
    ("train: an image that is a text file", lambda i: train_on(i, kvasir_copy(
        i, lambda r: corrupt(first(r, "train/images/*.jpg"), b"hello, not a JPEG\n"))), "cannot read image"),
    ("ensemble: a test JPEG cut short", lambda i: ensemble_on(i, kvasir_copy(
        i, lambda r: cut_short(first(r, "test/images/*.jpg"))) / "test"), "the JPEG is cut short"),
    ("ensemble: a test decompression bomb", lambda i: ensemble_on(i, kvasir_copy(
        i, lambda r: bomb(first(r, "test/images/*.jpg"))) / "test"), "decompression bomb"),
    ("score: truth mask of another size", lambda i: ["score", "--task", "kvasir", "--csv", str(i.csv()), "--data-root",
                                                     str(kvasir_copy(i, lambda r: resized(first(r, "test/masks/*")))
                                                         / "test")], "but its image"),
    # split entries that are not cases of the data root
    ("train: split entry outside the data root", lambda i: train_on(i, i.kvasir, splits=splits_with(
        i, i.kvasir, lambda raw: raw["folds"][0]["train"].append(f"../{i.kvasir.name}/train/images/0.jpg"))),
     "not a labelled image"),
    ("train: split entry that is an absolute path", lambda i: train_on(i, i.kvasir, splits=splits_with(
        i, i.kvasir, lambda raw: raw["folds"][0]["val"].append(str(first(i.kvasir, "train/images/*.jpg"))))),
     "not a labelled image"),
    ("train: split entry that is a mask", lambda i: train_on(i, i.kvasir, splits=splits_with(
        i, i.kvasir, lambda raw: raw["folds"][0]["train"].append("train/masks/0.jpg"))), "not a labelled image"),
    ("train: split entry in train and val", lambda i: train_on(i, i.kvasir, splits=splits_with(
        i, i.kvasir, lambda raw: raw["folds"][0]["train"].append(raw["folds"][0]["val"][0]))), "both train and val"),
    ("train: split entry that is a number", lambda i: train_on(i, i.kvasir, splits=splits_with(
        i, i.kvasir, lambda raw: raw["folds"][0]["train"].append(7))), "Input should be a valid string"),
    ("train: split list that is a string", lambda i: train_on(i, i.kvasir, splits=splits_with(
        i, i.kvasir, lambda raw: raw["folds"][0].update(train="train/images/0.jpg"))), "folds.0.train: Input should be a valid list"),
    # JSON values that are not finite numbers
    ("ensemble: threshold NaN", lambda i: i.ensemble(thresholds_set(i, '{"thresholds": {"polyp": NaN}}')),
     "bad thresholds file"),
    ("ensemble: threshold 1e999", lambda i: i.ensemble(thresholds_set(i, '{"thresholds": {"polyp": 1e999}}')),
     "bad thresholds file"),
    ("ensemble: threshold a string", lambda i: i.ensemble(thresholds_set(i, '{"thresholds": {"polyp": "0.5"}}')),
     "thresholds.polyp: Input should be a valid number"),
    ("ensemble: threshold true", lambda i: i.ensemble(thresholds_set(i, '{"thresholds": {"polyp": true}}')),
     "thresholds.polyp: Input should be a valid number"),
    ("ensemble: member weight Infinity", lambda i: i.ensemble("weights=" + str(weights_file(i, "Infinity"))),
     "Infinity is not a JSON number"),
    ("ensemble: member weight a string", lambda i: i.ensemble("weights=" + str(weights_file(i, '"1"'))),
     "Input should be a valid number"),
    ("ensemble: state.json with NaN", lambda i: (edit_json(i.member() / "state.json",
                                                           lambda raw: raw.update(best_dice=float("nan"))),
                                                 i.ensemble())[1], "NaN is not a JSON number"),
    ("score: polygon point NaN", lambda i: ["score", "--task", "handbone", "--csv", str(i.handbone_csv()),
                                            "--data-root", str(hand_label(i, lambda raw: set_point(raw, float("nan"))))],
     "bad label JSON"),
    ("score: polygon point a string", lambda i: ["score", "--task", "handbone", "--csv", str(i.handbone_csv()),
                                                 "--data-root", str(hand_label(i, lambda raw: set_point(raw, "12")))],
     "must be numbers"),
    ("score: polygon point null", lambda i: ["score", "--task", "handbone", "--csv", str(i.handbone_csv()),
                                             "--data-root", str(hand_label(i, lambda raw: set_point(raw, None)))],
     "must be numbers"),
    # JSON nested too deeply, text in another encoding, values of other types, names the CSV cannot hold
    ("train: a splits file nested too deeply", lambda i: train_on(i, i.kvasir, splits=deeply_nested(
        i.work.parent / "deep.json")), "nested too deeply"),
    ("ensemble: a thresholds file nested too deeply", lambda i: i.ensemble(
        f"thresholds={deeply_nested(i.work / 'deep.json')}"), "nested too deeply"),
    ("train: a config file in Latin-1", lambda i: ["train-fold", "--config", str(latin1_config(i)), "--fold", "0"],
     "not UTF-8"),
    ("score: a label that is a list", lambda i: ["score", "--task", "handbone", "--csv", str(i.handbone_csv()),
                                                 "--data-root", str(hand_label(i, lambda raw: raw["annotations"][0]
                                                                               .update(label=["Radius"])))],
     "a label is not a string"),
    ("score: polygon points that are not pairs", lambda i: ["score", "--task", "handbone", "--csv",
                                                            str(i.handbone_csv()), "--data-root", str(hand_label(
                                                                i, lambda raw: raw["annotations"][0].update(
                                                                    points=[1, 2, 3])))], "[x, y] pairs"),
    ("ensemble: a test image whose name is not UTF-8", lambda i: ensemble_on(i, kvasir_copy(i, non_utf8_name) / "test"),
     "not valid UTF-8"),
    ("import-weights: a torch file holding a list", lambda i: [
        "import-weights", "--weights", str(saved(i.work.parent / "list.pth", [torch.zeros(2)])), "--config",
        str(KVASIR_TINY), "--out", str(i.work / "new" / "w.safetensors")], "hold no state dict"),
    ("import-weights: a torch file holding a bare tensor", lambda i: [
        "import-weights", "--weights", str(saved(i.work.parent / "t.pth", torch.zeros(2))), "--config",
        str(KVASIR_TINY), "--out", str(i.work / "new" / "w.safetensors")], "hold no state dict"),
    # launchers
    ("ensemble: --shard auto outside a SLURM array", lambda i: i.ensemble() + ["--shard", "auto"],
     "SLURM_ARRAY_TASK_ID is not set"),
]


@pytest.mark.parametrize("name, build, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_file_is_one_line_exit_2_and_leaves_the_tree_as_it_was(name, build, fragment, tmp_path, handbone_root,
                                                                   kvasir_root, run_cli, monkeypatch):
    for variable in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN"):
        monkeypatch.delenv(variable, raising=False)
    inputs = Inputs(tmp_path / "work", handbone_root, kvasir_root)
    inputs.work.mkdir()
    argv = build(inputs)
    before = {p.relative_to(tmp_path): p.stat().st_size for p in tmp_path.rglob("*")}
    code, out, err = run_cli("--quiet", *argv)
    after = {p.relative_to(tmp_path): p.stat().st_size for p in tmp_path.rglob("*")}
    assert code == 2, f"exit {code}: {err or out}"
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert fragment in err, err
    assert after == before, f"created: {sorted(set(after) - set(before))}"


def test_a_failure_after_work_started_removes_the_folders_it_made(tmp_path, kvasir_root, handbone_root, run_cli):
    """The ensemble fails on the last test image, after it wrote cache entries and masks to temporary places
    under a folder it created: the folder goes, the cache (kept on purpose for the re-run) stays."""
    inputs = Inputs(tmp_path / "work", handbone_root, kvasir_root)
    inputs.work.mkdir()
    root = kvasir_copy(inputs, lambda r: cut_short(sorted(r.glob("test/images/*.jpg"))[-1]))
    code, _, err = run_cli("--quiet", *ensemble_on(inputs, root / "test", f"cache_dir={inputs.work / 'cache'}",
                                          "batch_size=1"))
    assert code == 2 and "cut short" in err
    assert not (inputs.work / "new").exists()
    assert len(list((inputs.work / "cache").rglob("*.npy"))) == len(list((root / "test/images").iterdir())) - 1

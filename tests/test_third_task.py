"""A task no code knows (tests/tasks/shapes3.yaml: three exclusive classes in label maps, a submission with its own
header, stems, column-major RLE from 0, empty masks left out), through the CLI end to end."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "tests/tasks/shapes3.yaml"
MEMBERS = {"a": "configs/kvasir/tiny.yaml", "b": "configs/kvasir/tiny_effisegnet.yaml"}


def decode_by_columns(rle: str, height: int, width: int, start: int) -> np.ndarray:
    """The test's own decoder: pairs (start, length) over the column-by-column flattening."""
    flat = np.zeros(height * width, bool)
    numbers = [int(n) for n in rle.split()]
    for first, length in zip(numbers[::2], numbers[1::2]):
        flat[first - start:first - start + length] = True
    return flat.reshape(width, height).T


def decode_by_rows(rle: str, height: int, width: int) -> np.ndarray:
    flat = np.zeros(height * width, bool)
    numbers = [int(n) for n in rle.split()]
    for first, length in zip(numbers[::2], numbers[1::2]):
        flat[first - 1:first - 1 + length] = True
    return flat.reshape(height, width)


def read_masks(path: Path, columns: list[str], images: dict[str, tuple[int, int]], by_columns: bool) -> dict:
    """image -> CxHxW masks of a CSV, rows absent read as empty."""
    classes = ["disc", "triangle", "square"]
    masks = {name: np.zeros((3, *shape), bool) for name, shape in images.items()}
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == columns
        for image, class_name, rle in reader:
            height, width = images[image]
            plane = decode_by_columns(rle, height, width, 0) if by_columns else decode_by_rows(rle, height, width)
            masks[image][classes.index(class_name)] = plane
    return masks


def test_a_third_task_runs_from_split_to_compare(tmp_path, run_cli):
    data, splits, work = tmp_path / "data", tmp_path / "splits.json", tmp_path
    assert run_cli("synth", "--task", TASK, "--out", data, "--count", "12", "--size", "64")[0] == 0
    assert run_cli("split", "--task", TASK, "--data-root", data, "--k", "2", "--out", splits)[0] == 0
    for name, config in MEMBERS.items():
        for fold in (0, 1):
            code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / config, "--fold", str(fold), "--set",
                                   f"task={TASK}", f"data.root={data}", f"data.splits={splits}",
                                   f"run.dir={work / name}", "train.epochs=1", "train.loss={bce_dice: 1.0}")
            assert code == 0, err
    # the test images double as a labelled hold-out: test/images holds copies of train/images
    holdout = tmp_path / "holdout"
    for case in sorted((data / "train/images").iterdir()):
        for folder in ("train/images", "test/images"):
            (holdout / folder).mkdir(parents=True, exist_ok=True)
            (holdout / folder / case.name).write_bytes(case.read_bytes())
        (holdout / "train/labels").mkdir(parents=True, exist_ok=True)
        (holdout / "train/labels" / case.name).write_bytes((data / "train/labels" / case.name).read_bytes())
    ensemble = tmp_path / "ensemble.yaml"
    ensemble.write_text(json.dumps({"task": str(TASK), "members": [f"{work}/a/fold*", f"{work}/b/fold*"],
                                    "data": {"root": str(holdout)}, "output": {"csv": str(tmp_path / "vote.csv")}}))
    weights = tmp_path / "weights.json"
    assert run_cli("--quiet", "tune-ensemble", "--config", ensemble, "--out", weights)[0] == 0
    assert run_cli("--quiet", "ensemble", "--config", ensemble)[0] == 0
    tuned = tmp_path / "tuned.csv"
    assert run_cli("--quiet", "ensemble", "--config", ensemble, "--set", f"weights={weights}",
                   f"output.csv={tuned}")[0] == 0
    code, out, err = run_cli("validate", "--task", TASK, "--csv", tuned, "--images", holdout)
    assert code == 0 and "valid (12 images)" in out, err
    code, out, _ = run_cli("score", "--task", TASK, "--csv", tuned, "--data-root", holdout)
    assert code == 0 and "mean Dice" in out
    table = tmp_path / "compare.csv"
    assert run_cli("--quiet", "compare", "--task", TASK, "--csv", tmp_path / "vote.csv", tuned, "--data-root",
                   holdout, "--out", table)[0] == 0
    with open(table, newline="") as handle:
        assert next(csv.DictReader(handle))["b"] == str(tuned)

    # the same vote under the competition's conventions (row-major from 1, file names, empty fields) gives the
    # same masks as the third task's CSV decoded by the test's own column-major decoder
    sibling = tmp_path / "shapes3_rows.yaml"
    sibling.write_text("\n".join(line for line in TASK.read_text().splitlines() if not line.startswith("submission")))
    rows_csv = tmp_path / "rows.csv"
    assert run_cli("--quiet", "ensemble", "--config", ensemble, "--set", f"task={sibling}", f"weights={weights}",
                   f"output.csv={rows_csv}")[0] == 0
    shapes = {p.stem: np.asarray(Image.open(p)).shape[:2] for p in sorted((holdout / "test/images").iterdir())}
    by_columns = read_masks(tuned, ["ImageId", "ClassName", "EncodedPixels"], shapes, by_columns=True)
    by_rows = read_masks(rows_csv, ["image_name", "class", "rle"], {f"{k}.png": v for k, v in shapes.items()},
                         by_columns=False)
    assert sum(int(m.sum()) for m in by_columns.values()) > 0  # the members predicted something to compare
    for stem in shapes:
        np.testing.assert_array_equal(by_columns[stem], by_rows[f"{stem}.png"])
        assert by_columns[stem].sum(0).max() <= 1  # exclusive: a pixel holds at most one class
    with open(tuned, newline="") as handle:
        assert all(row["EncodedPixels"] for row in csv.DictReader(handle))  # empty masks are left out

    # never_empty in an exclusive task: above a threshold of 1 every mask is empty, and each class's blob may only
    # take pixels where it is the most probable class: still at most one class per pixel, and no image left empty
    filled = tmp_path / "filled.csv"
    classes = yaml.safe_load(TASK.read_text())["classes"]
    steps = json.dumps({name: {"step": "never_empty", "peak_share": 1e-6} for name in classes})
    assert run_cli("--quiet", "ensemble", "--config", ensemble, "--set", "thresholds=1.0", f"postprocess={steps}",
                   f"output.csv={filled}")[0] == 0
    blobs = read_masks(filled, ["ImageId", "ClassName", "EncodedPixels"], shapes, by_columns=True)
    for stem in shapes:
        assert blobs[stem].sum(0).max() <= 1 and blobs[stem].any()

    # the hard vote in the task's conventions: at least one of two CSVs is their union, mask for mask
    union = tmp_path / "union.csv"
    assert run_cli("--quiet", "vote", "--task", TASK, "--csv", tmp_path / "vote.csv", tuned, "--min-votes", "1",
                   "--out", union)[0] == 0
    columns = ["ImageId", "ClassName", "EncodedPixels"]
    uniform = read_masks(tmp_path / "vote.csv", columns, shapes, by_columns=True)
    voted = read_masks(union, columns, shapes, by_columns=True)
    for stem in shapes:
        np.testing.assert_array_equal(voted[stem], uniform[stem] | by_columns[stem])

    # pseudo-labels in the task's own format: label maps beside copies of the test images, a data root of the task
    pseudo = tmp_path / "pseudo"
    assert run_cli("--quiet", "pseudo-label", "--config", ensemble, "--set", f"weights={weights}", "--splits",
                   splits, "--out", pseudo)[0] == 0
    written = sorted(p.name for p in (pseudo / "fold0/train/labels").iterdir())
    assert written == sorted(p.name for p in (holdout / "test/images").iterdir())
    for name in written:
        plane = np.asarray(Image.open(pseudo / "fold0/train/labels" / name))
        assert plane.shape == shapes[Path(name).stem] and set(np.unique(plane)) <= {0, 1, 2, 3}
    assert run_cli("split", "--task", TASK, "--data-root", pseudo / "fold0", "--k", "2", "--out",
                   tmp_path / "pseudo_splits.json")[0] == 0

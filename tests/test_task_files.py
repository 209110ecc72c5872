"""Task files: every label format read back mask for mask from files the test writes itself, the RLE and COCO
codecs against hand-computed strings, bad task files and labels refused in one line, and no task named outside
data/."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data import get_task

ROOT = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 12, 16  # not square: a transposed reader fails


def rectangle(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """An HxW mask, True on rows y0..y1 and columns x0..x1 (inclusive)."""
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[y0:y1 + 1, x0:x1 + 1] = True
    return mask


# Two images, three classes; in image "b" the classes overlap (formats that allow it keep both).
TRUTH = {
    "a": np.stack([rectangle(1, 4, 2, 6), rectangle(6, 10, 8, 14), np.zeros((HEIGHT, WIDTH), bool)]),
    "b": np.stack([rectangle(0, 11, 0, 3), rectangle(2, 5, 2, 9), rectangle(8, 9, 12, 15)]),
}
CLASSES = ["red", "green", "blue"]


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def write_images(root: Path, folder: str, names=("a", "b")) -> None:
    for index, name in enumerate(names):
        write_png(root / folder / f"{name}.png", np.full((HEIGHT, WIDTH, 3), 40 * index + 20, np.uint8))


def write_task(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def corners(mask: np.ndarray) -> list[list[int]]:
    """The rectangle's polygon [x, y] corners (a filled polygon covers its corner pixels)."""
    ys, xs = np.nonzero(mask)
    return [[int(xs.min()), int(ys.min())], [int(xs.max()), int(ys.min())], [int(xs.max()), int(ys.max())],
            [int(xs.min()), int(ys.max())]]


def column_major_rle(mask: np.ndarray, start: int) -> str:
    """The test's own encoder: runs of the column-by-column flattening, first pixel numbered `start`."""
    flat = mask.T.reshape(-1)
    runs, index = [], 0
    while index < flat.size:
        if flat[index]:
            end = index
            while end < flat.size and flat[end]:
                end += 1
            runs += [index + start, end - index]
            index = end
        else:
            index += 1
    return " ".join(map(str, runs))


def coco_counts(mask: np.ndarray) -> list[int]:
    """COCO's plain RLE counts (column-major, from a background run), by a plain loop."""
    flat, counts, value, run = mask.T.reshape(-1), [], False, 0
    for pixel in flat:
        if bool(pixel) != value:
            counts.append(run)
            value, run = bool(pixel), 0
        run += 1
    return counts + [run]


def binary_mask_set(root: Path, tmp: Path) -> tuple[str, dict]:
    write_images(root, "train/images")
    for name, masks in TRUTH.items():
        write_png(root / "train/masks" / f"{name}.png", masks[0].astype(np.uint8))  # {0, 1}: non-zero is foreground
    task = write_task(tmp / "binary.yaml", "classes: [red]\nimages: {train: train/images}\n"
                                           "labels: {format: binary-mask, folder: train/masks}\n")
    return task, {name: masks[:1] for name, masks in TRUTH.items()}


def mask_per_class_set(root: Path, tmp: Path) -> tuple[str, dict]:
    write_images(root, "img")
    for name, masks in TRUTH.items():
        for class_name, mask in zip(CLASSES, masks):
            write_png(root / "gt" / class_name / f"{name}.png", mask.astype(np.uint8) * 255)
    task = write_task(tmp / "per_class.yaml", f"classes: {CLASSES}\nimages: {{train: img}}\n"
                                              "labels: {format: mask-per-class, folder: gt}\n")
    return task, TRUTH


def label_map_set(root: Path, tmp: Path) -> tuple[str, dict]:
    write_images(root, "train/images")
    expected = {}
    for name, masks in TRUTH.items():
        plane = np.zeros((HEIGHT, WIDTH), np.uint8)
        for index, mask in enumerate(masks, start=1):
            plane[mask] = index  # the later class wins where they overlap
        plane[0, WIDTH - 1] = 255  # ignored
        write_png(root / "train/labels" / f"{name}.png", plane)
        expected[name] = plane[None] == np.arange(1, 4)[:, None, None]
    task = write_task(tmp / "label_map.yaml", f"classes: {CLASSES}\nexclusive: true\n"
                                              "images: {train: train/images}\n"
                                              "labels: {format: label-map, folder: train/labels, ignore: 255}\n")
    return task, expected


def polygon_json_set(root: Path, tmp: Path) -> tuple[str, dict]:
    write_images(root, "photos/p1", names=("a",))
    write_images(root, "photos/p2", names=("b",))
    for name, masks in TRUTH.items():
        shapes = [{"what": c, "xy": corners(m)} for c, m in zip(CLASSES, masks) if m.any()]
        folder = root / "json" / ("p1" if name == "a" else "p2")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps({"objects": shapes}))
    task = write_task(tmp / "polygons.yaml", f"classes: {CLASSES}\nimages: {{train: photos}}\n"
                                             "labels: {format: polygon-json, folder: json, "
                                             "keys: {annotations: objects, label: what, points: xy}}\n"
                                             "groups: {pattern: 'photos/([^/]+)/'}\n")
    return task, TRUTH


def coco_set(root: Path, tmp: Path) -> tuple[str, dict]:
    write_images(root, "train")
    images = [{"id": 7 + i, "file_name": f"train/{name}.png", "height": HEIGHT, "width": WIDTH}
              for i, name in enumerate(TRUTH)]
    categories = [{"id": 10 * (i + 1), "name": c} for i, c in enumerate(CLASSES)]
    annotations = []
    for i, (name, masks) in enumerate(TRUTH.items()):
        for c, mask in enumerate(masks):
            if not mask.any():
                continue
            if c == 1:  # one class as plain RLE, the others as polygons
                segmentation = {"size": [HEIGHT, WIDTH], "counts": coco_counts(mask)}
            else:
                segmentation = [sum(corners(mask), [])]
            annotations.append({"id": len(annotations) + 1, "image_id": 7 + i, "category_id": 10 * (c + 1),
                                "segmentation": segmentation})
    (root / "coco.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                "categories": categories}))
    task = write_task(tmp / "coco.yaml", f"classes: {CLASSES}\nimages: {{train: train}}\n"
                                         "labels: {format: coco, file: coco.json}\n")
    return task, TRUTH


def rle_csv_set(root: Path, tmp: Path) -> tuple[str, dict]:
    write_images(root, "train")
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "organ", "segmentation"])
        for name, masks in TRUTH.items():
            for class_name, mask in zip(CLASSES, masks):
                if mask.any():  # a class without a row is empty
                    writer.writerow([name, class_name, column_major_rle(mask, 0)])
    task = write_task(tmp / "rle.yaml", f"classes: {CLASSES}\nimages: {{train: train}}\n"
                                        "labels: {format: rle-csv, file: labels.csv, columns: [id, organ, segmentation],"
                                        " order: column-major, start: 0, image: stem}\n")
    return task, TRUTH


FORMATS = {"binary-mask": binary_mask_set, "mask-per-class": mask_per_class_set, "label-map": label_map_set,
           "polygon-json": polygon_json_set, "coco": coco_set, "rle-csv": rle_csv_set}


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_reads_back_the_masks_the_test_wrote(name, tmp_path):
    root = tmp_path / "data"
    task_file, expected = FORMATS[name](root, tmp_path)
    task = get_task(task_file, root)
    cases = task.labelled_cases()
    assert [Path(c).stem for c in cases] == list(expected)
    for case in cases:
        np.testing.assert_array_equal(task.read_mask(case), expected[Path(case).stem])


def test_an_rle_csv_with_a_byte_order_mark_reads_the_same_masks(tmp_path):
    root = tmp_path / "data"
    task_file, expected = rle_csv_set(root, tmp_path)
    labels = root / "labels.csv"
    labels.write_bytes(b"\xef\xbb\xbf" + labels.read_bytes())  # the header's first column is still `id`
    task = get_task(task_file, root)
    for case in task.labelled_cases():
        np.testing.assert_array_equal(task.read_mask(case), expected[Path(case).stem])


def test_a_label_map_ignores_its_ignore_value(tmp_path):
    task_file, _ = label_map_set(tmp_path / "data", tmp_path)
    labels = get_task(task_file, tmp_path / "data").read_labels("train/images/a.png")
    assert labels.ignore is not None and np.flatnonzero(labels.ignore).tolist() == [WIDTH - 1]


def test_polygon_groups_come_from_the_pattern(tmp_path):
    task_file, _ = polygon_json_set(tmp_path / "data", tmp_path)
    task = get_task(task_file, tmp_path / "data")
    assert [task.group(c) for c in task.labelled_cases()] == ["p1", "p2"]


def test_column_major_rle_matches_a_hand_computed_string():
    from rle import decode, encode
    from submit.submission import encode_mask
    mask = np.array([[1, 0, 1], [1, 1, 0]], bool)  # by columns: 1 1 | 0 1 | 1 0
    assert encode(mask, "column-major", 0) == "0 2 3 2"
    assert encode(mask, "column-major", 1) == "1 2 4 2"
    assert encode(mask) == "1 1 3 3"  # by rows: 1 0 1 | 1 1 0
    np.testing.assert_array_equal(decode("0 2 3 2", (2, 3), "column-major", 0), mask)
    from configs.task import SubmissionSpec
    assert encode_mask(mask, SubmissionSpec(order="column-major", start=0)) == "0 2 3 2"


def test_coco_compressed_counts_match_a_hand_encoded_string():
    from data.formats.coco import Coco, compressed_counts
    # counts 1 2 3 1: the first three as single characters ('1' '2' '3'); the fourth is stored as 1 - 2 = -1, whose
    # five low bits 11111 (sign bit 0x10 set, no continuation) are chr(31 + 48) = 'O'
    assert compressed_counts("123O") == [1, 2, 3, 1]
    mask = Coco.segment({"size": [7, 1], "counts": "123O"}, (7, 1))
    assert mask[:, 0].tolist() == [0, 1, 1, 0, 0, 0, 1]


BAD = {
    "unknown key": ("classes: [a]\nimages: {train: i}\nlabels: {format: binary-mask, folder: m}\ncolour: red\n",
                    "colour: unknown key"),
    "unknown format": ("classes: [a]\nimages: {train: i}\nlabels: {format: nifti, folder: m}\n", "labels.format"),
    "class twice": ("classes: [a, b, a]\nimages: {train: i}\nlabels: {format: label-map, folder: m}\n",
                    "names 'a' twice"),
    "bad pattern": ("classes: [a]\nimages: {train: i}\nlabels: {format: binary-mask, folder: m}\n"
                    "groups: {pattern: '(unclosed'}\n", "groups.pattern"),
    "ignore on masks": ("classes: [a]\nimages: {train: i}\nlabels: {format: binary-mask, folder: m, ignore: 255}\n",
                        "labels.ignore"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_task_file_is_one_line_naming_file_and_key(case, tmp_path, run_cli):
    text, fragment = BAD[case]
    task = write_task(tmp_path / "task.yaml", text)
    (tmp_path / "data").mkdir()
    out = tmp_path / "splits.json"
    code, _, err = run_cli("split", "--task", task, "--data-root", tmp_path / "data", "--k", "2", "--out", out)
    assert code == 2 and err.count("\n") == 1 and fragment in err and "task.yaml" in err, err
    assert not out.exists()


def break_unknown_label(root: Path, task: str) -> None:
    path = root / "json/p1/a.json"
    path.write_text(path.read_text().replace('"red"', '"purple"'))


def break_label_without_image(root: Path, task: str) -> None:
    write_png(root / "train/labels/c.png", np.zeros((HEIGHT, WIDTH), np.uint8))


def break_image_without_label(root: Path, task: str) -> None:
    write_images(root, "train/images", names=("c",))


def break_label_value(root: Path, task: str) -> None:
    write_png(root / "train/labels/b.png", np.full((HEIGHT, WIDTH), 4, np.uint8))


def break_rle_past_image(root: Path, task: str) -> None:
    path = root / "labels.csv"  # its last row is image b's blue mask: a run now ends past the image
    lines = path.read_text().splitlines(True)
    path.write_text("".join(lines[:-1]) + f"b,blue,{HEIGHT * WIDTH - 2} 5\n")


def rewrite_rle_csv(change):
    def breakage(root: Path, task: str) -> None:
        path = root / "labels.csv"
        path.write_bytes(change(path.read_bytes()))
    return breakage


BROKEN = {
    "label names a class the task lacks": (polygon_json_set, break_unknown_label, "unknown label 'purple'"),
    "label without image": (label_map_set, break_label_without_image, "label without image"),
    "image without label": (label_map_set, break_image_without_label, "image without label"),
    "label map value above the classes": (label_map_set, break_label_value, "holds the value 4"),
    "RLE past the image": (rle_csv_set, break_rle_past_image, "labels.csv line 6 (train/b.png, 16x12): bad RLE: run ends at pixel 195"),
    "RLE CSV without its RLE column": (rle_csv_set, rewrite_rle_csv(lambda b: b.replace(b"segmentation", b"rle", 1)),
                                       "labels.csv: no column 'segmentation'"),
    "RLE CSV with a class twice": (rle_csv_set, rewrite_rle_csv(lambda b: b + b.splitlines(True)[-1]),
                                   "a second row for b / blue"),
    "RLE CSV naming another class": (rle_csv_set, rewrite_rle_csv(lambda b: b + b"b,purple,1 2\n"),
                                     "class 'purple' is not a class of the task"),
    "RLE CSV not UTF-8": (rle_csv_set, rewrite_rle_csv(lambda b: b + b"b,blue,\xff\n"), "labels.csv: not UTF-8"),
    "RLE CSV with a stray quote": (rle_csv_set, rewrite_rle_csv(lambda b: b + b'b,"blue\n'),
                                   "labels.csv line 7: class 'blue\\n'"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_bad_labels_are_one_line_and_nothing_written(case, tmp_path, run_cli):
    make, breakage, fragment = BROKEN[case]
    root = tmp_path / "data"
    task, _ = make(root, tmp_path)
    breakage(root, task)
    out = tmp_path / "splits.json"
    code, _, err = run_cli("split", "--task", task, "--data-root", root, "--k", "2", "--out", out)
    run = tmp_path / "run"
    if code == 0:  # a fault only reading the labels finds: train-fold checks every case before any work
        code, _, err = run_cli("train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0", "--set",
                               f"task={task}", f"data.root={root}", f"data.splits={out}", f"run.dir={run}",
                               "train.loss={bce_dice: 1.0}")
    assert code == 2 and err.count("\n") == 1 and fragment in err, err
    assert not run.exists()


LIBRARY = ("atomic.py", "cli.py", "csvfile.py", "errors.py", "jsonfile.py", "names.py", "plots.py", "rle.py", "commands", "configs",
           "ensemble", "evaluate", "folds", "models", "report", "submit")


def test_no_task_is_named_outside_data_and_its_task_files():
    named = re.compile(r"kvasir|hand-?bone|HandBoneTask|KvasirTask", re.IGNORECASE)
    files = [p for entry in LIBRARY for p in ([ROOT / entry] if entry.endswith(".py")
                                              else sorted((ROOT / entry).rglob("*.py")))]
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in files
                 for i, line in enumerate(p.read_text().splitlines(), 1) if named.search(line)]
    assert len(files) > 40 and offenders == []


def test_ignored_pixels_count_in_no_loss_term():
    import torch
    from monai.losses import DiceLoss

    from models.losses import CombinedLoss
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=generator, requires_grad=True)
    target = (torch.rand(2, 3, 8, 8, generator=generator) > 0.5).float()
    ignore = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    ignore[..., 4:] = True  # the right half of every image
    loss = CombinedLoss({"bce_dice": 1.0}, 3)(logits, target, ignore)
    kept_logits, kept_target = logits[..., :4], target[..., :4]
    # BCE: a mean over every pixel, the ignored ones adding nothing; Dice (MONAI's own) over the kept pixels alone
    bce = torch.nn.functional.binary_cross_entropy_with_logits(kept_logits, kept_target) / 2
    expected = bce + DiceLoss(sigmoid=True)(kept_logits, kept_target)
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert logits.grad[..., 4:].abs().max() == 0 and logits.grad[..., :4].abs().max() > 0


def test_a_label_map_task_with_an_ignore_value_trains(tmp_path, run_cli):
    root = tmp_path / "data"
    task, _ = label_map_set(root, tmp_path)
    write_images(root, "train/images", names=("c", "d"))
    for copy, source in (("c", "a"), ("d", "b")):
        (root / f"train/labels/{copy}.png").write_bytes((root / f"train/labels/{source}.png").read_bytes())
    splits, run = tmp_path / "splits.json", tmp_path / "run"
    assert run_cli("split", "--task", task, "--data-root", root, "--k", "2", "--out", splits)[0] == 0
    code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0",
                           "--set", f"task={task}", f"data.root={root}", f"data.splits={splits}", f"run.dir={run}",
                           "train.epochs=1", "data.image_size=32", "train.batch_size=2", "train.loss={bce_dice: 1.0}")
    assert code == 0, err
    assert json.loads((run / "fold0/state.json").read_text())["classes"] == CLASSES


def test_the_tuning_objective_leaves_ignored_pixels_out():
    from ensemble.thresholds import CANDIDATES, image_threshold_dice
    rng = np.random.default_rng(3)
    probs, truth, ignore = rng.random(500), rng.random(500) > 0.6, rng.random(500) > 0.8
    image = (np.arange(500) >= 250).astype(np.int32)  # two images
    table = image_threshold_dice(probs, truth, image, 2, ignore=ignore)
    for index in (0, 1):
        kept = (image == index) & ~ignore
        for j, t in enumerate(CANDIDATES):
            pred = probs[kept] > t
            tp = np.sum(pred & truth[kept])
            expected = (2 * tp + 1e-4) / (pred.sum() + truth[kept].sum() + 1e-4)
            assert table[index, j] == pytest.approx(expected)

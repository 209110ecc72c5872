import json
import shutil

import numpy as np
import pytest

from data import get_task
from data.handbone import CLASS_INDEX, CLASSES, rasterize_polygons
from errors import UserError


def test_class_order_fixed():
    assert len(CLASSES) == 29
    assert CLASSES[:2] == ("finger-1", "finger-2") and CLASSES[18] == "finger-19"
    assert CLASSES[19:] == ("Trapezium", "Trapezoid", "Capitate", "Hamate", "Scaphoid",
                            "Lunate", "Triquetrum", "Pisiform", "Radius", "Ulna")


def test_rasterisation_matches_hand_computed_mask():
    square = np.array([[1, 1], [4, 1], [4, 3], [1, 3]])  # x 1..4, y 1..3, boundary included
    triangle = np.array([[0, 0], [2, 0], [0, 2]])       # the lower-left triangle incl. diagonal
    masks = rasterize_polygons([("Radius", square), ("Ulna", triangle), ("Radius", triangle)], (5, 6))
    radius = np.zeros((5, 6), bool)
    radius[1:4, 1:5] = True
    ulna = np.array([[1, 1, 1, 0, 0, 0],
                     [1, 1, 0, 0, 0, 0],
                     [1, 0, 0, 0, 0, 0],
                     [0, 0, 0, 0, 0, 0],
                     [0, 0, 0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(masks[CLASS_INDEX["Ulna"]], ulna)
    np.testing.assert_array_equal(masks[CLASS_INDEX["Radius"]], radius | ulna)
    assert masks.sum() == (radius | ulna).sum() + ulna.sum()  # other channels empty


def test_synthetic_layout_and_overlap(handbone_root):
    task = get_task("handbone", handbone_root)
    cases = task.labelled_cases()
    assert len(cases) == 8 and all(c.startswith("train/DCM/ID00") for c in cases)
    assert {task.group(c) for c in cases} == {"ID001", "ID002", "ID003", "ID004"}
    mask = task.read_mask(cases[0])
    assert mask.shape == (29, 128, 128)
    assert mask.any(axis=(1, 2)).all()           # every bone present
    assert (mask.sum(0) > 1).any()               # multi-label: some pixels in two bones
    assert len(task.test_images()) == 2
    image = task.read_image(cases[0])
    assert image.shape == (128, 128, 3)
    assert image[mask.any(0)].mean() > image[~mask.any(0)].mean() + 30  # bones are bright


@pytest.fixture
def broken_root(handbone_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(handbone_root, root)
    return root


def _first_label(root):
    return sorted((root / "train" / "outputs_json").rglob("*.json"))[0]


def _edit_first_annotation(root, **changes):
    path = _first_label(root)
    content = json.loads(path.read_text())
    content["annotations"][0].update(changes)
    path.write_text(json.dumps(content))
    return path


def _break(root, breakage):
    label = _first_label(root)
    image = root / "train" / "DCM" / label.parent.name / (label.stem + ".png")
    if breakage == "missing_json":
        label.unlink()
    elif breakage == "orphan_json":
        image.unlink()
    elif breakage == "duplicate_name":
        shutil.copy(image, root / "train" / "DCM" / "ID002" / image.name)
        shutil.copy(label, root / "train" / "outputs_json" / "ID002" / label.name)
    elif breakage == "unknown_label":
        _edit_first_annotation(root, label="Femur")
    elif breakage == "two_points":
        _edit_first_annotation(root, points=[[1, 1], [5, 5]])
    elif breakage == "out_of_bounds":
        _edit_first_annotation(root, points=[[1, 1], [500, 5], [5, 9]])
    elif breakage == "unreadable":
        image.write_bytes(b"garbage")
    return image


@pytest.mark.parametrize("breakage, fragment", [
    ("missing_json", "image without label JSON"),
    ("orphan_json", "label without image"),
    ("duplicate_name", "duplicate image name"),
])
def test_bad_layout_fails_split_in_one_line(broken_root, run_cli, breakage, fragment, tmp_path):
    _break(broken_root, breakage)
    out = tmp_path / "splits.json"
    code, _, stderr = run_cli("split", "--task", "handbone", "--data-root", broken_root, "--k", "2", "--out", out)
    assert code == 2 and fragment in stderr and stderr.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("breakage, fragment", [
    ("unknown_label", "unknown label 'Femur'"),
    ("two_points", "at least 3"),
    ("out_of_bounds", "outside the 128x128 image"),
    ("unreadable", "cannot read image"),
])
def test_bad_file_names_the_file(broken_root, breakage, fragment):
    image = _break(broken_root, breakage)
    task = get_task("handbone", broken_root)
    case = image.relative_to(broken_root).as_posix()
    with pytest.raises(UserError, match=fragment) as caught:
        task.read_image(case)
        task.read_mask(case)
    assert image.stem in str(caught.value)


def test_empty_folder_is_an_error(tmp_path, run_cli):
    (tmp_path / "train" / "DCM").mkdir(parents=True)
    code, _, stderr = run_cli("split", "--task", "handbone", "--data-root", tmp_path, "--out", tmp_path / "s.json")
    assert code == 2 and "no images found" in stderr

"""Masks read by what they hold (issue 36): a lossless {0, k} mask's k is foreground whatever k is, more values or
colour is one line, a PNG named .jpg is not "a JPEG cut short"; one image, one mask; no output among the labels."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from data import get_task
from data.images import read_binary_mask
from errors import UserError


def polyp_set(root: Path, value: int, dtype=np.uint8) -> np.ndarray:
    """One 40x30 image with a rectangle mask stored as PNG holding {0, value}; returns the true mask."""
    truth = np.zeros((30, 40), bool)
    truth[5:20, 8:30] = True
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "images" / "1.png"), np.full((30, 40, 3), 90, np.uint8))
    cv2.imwrite(str(root / "masks" / "1.png"), truth.astype(dtype) * value)
    return truth


@pytest.mark.parametrize("value, dtype", [(1, np.uint8), (255, np.uint8), (7, np.uint8), (1, np.uint16),
                                          (65535, np.uint16)])
def test_a_zero_and_k_mask_scores_as_the_same_truth_at_any_k(value, dtype, tmp_path, run_cli):
    truth = polyp_set(tmp_path / "data", value, dtype)
    task = get_task("kvasir", tmp_path / "data")
    np.testing.assert_array_equal(task.read_mask("images/1.png")[0], truth)
    from submit.rle import encode
    (tmp_path / "exact.csv").write_text(f"image_name,class,rle\n1.png,polyp,{encode(truth)}\n")
    code, out, err = run_cli("--quiet", "score", "--task", "kvasir", "--csv", tmp_path / "exact.csv",
                             "--data-root", tmp_path / "data")
    assert code == 0 and "mean Dice: 1.0000" in out, err


def test_more_values_are_thresholded_and_colour_or_no_zero_is_one_line(tmp_path):
    grey = np.zeros((8, 8), np.uint8)
    grey[:2], grey[2:4] = 100, 200
    cv2.imwrite(str(tmp_path / "three.png"), grey)  # an interpolated mask: thresholded at 127, as documented
    np.testing.assert_array_equal(read_binary_mask(tmp_path / "three.png"), grey > 127)
    cv2.imwrite(str(tmp_path / "no-zero.png"), np.where(grey > 0, 200, 100).astype(np.uint8))
    with pytest.raises(UserError, match="holds the values 100 and 200"):
        read_binary_mask(tmp_path / "no-zero.png")
    cv2.imwrite(str(tmp_path / "deep.png"), grey.astype(np.uint16) * 257)
    with pytest.raises(UserError, match="3 values at 16 bits"):
        read_binary_mask(tmp_path / "deep.png")
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[:4, :, 2] = 255
    cv2.imwrite(str(tmp_path / "red.png"), colour)
    with pytest.raises(UserError, match="in colour"):
        read_binary_mask(tmp_path / "red.png")


def test_a_png_named_jpg_is_read_by_its_bytes(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5] = 255
    ok, png = cv2.imencode(".png", mask)
    (tmp_path / "m.jpg").write_bytes(png.tobytes())
    np.testing.assert_array_equal(read_binary_mask(tmp_path / "m.jpg"), mask > 0)


def test_two_masks_for_one_image_and_two_test_images_of_one_stem_are_refused(tmp_path):
    polyp_set(tmp_path / "data", 255)
    cv2.imwrite(str(tmp_path / "data" / "masks" / "1.bmp"), np.zeros((30, 40), np.uint8))
    with pytest.raises(UserError, match="two mask files for one name"):
        get_task("kvasir", tmp_path / "data").labelled_cases()
    test = tmp_path / "test" / "images"
    test.mkdir(parents=True)
    for name in ("p.jpg", "p.png"):
        cv2.imwrite(str(test / name), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="two test image files for one name"):
        get_task("kvasir", tmp_path / "test").test_images()


def test_no_output_lands_among_the_labels(handbone_root, tmp_path, run_cli):
    labels = handbone_root / "train" / "outputs_json"
    before = sorted(p.relative_to(handbone_root) for p in handbone_root.rglob("*"))
    for target in (labels / "splits.json", handbone_root / "train" / "DCM" / "splits.json"):
        code, _, err = run_cli("--quiet", "split", "--task", "handbone", "--data-root", handbone_root, "--k", "2",
                               "--out", target)
        assert code == 2 and "lies inside" in err, err
    assert sorted(p.relative_to(handbone_root) for p in handbone_root.rglob("*")) == before


def test_a_config_naming_one_key_twice_is_one_line(tmp_path, run_cli):
    config = tmp_path / "member.yaml"
    config.write_text("task: kvasir\ntrain: {epochs: 1}\ntask: handbone\n")
    code, _, err = run_cli("--quiet", "train-fold", "--config", config, "--fold", "0")
    assert code == 2 and "the key 'task' appears twice (line 3)" in err and err.count("\n") == 1, err


def test_an_animated_or_webp_test_image_is_named_not_left_out(tmp_path):
    test = tmp_path / "test" / "images"
    test.mkdir(parents=True)
    cv2.imwrite(str(test / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (test / "b.gif").write_bytes(b"GIF89a")
    with pytest.raises(UserError, match="b.gif: .gif images are not read"):
        get_task("kvasir", tmp_path / "test").test_images()

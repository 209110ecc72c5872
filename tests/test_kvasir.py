import cv2
import numpy as np
import pytest

from data import get_task
from data.synthetic import make_kvasir
from errors import UserError


def test_release_and_original_layouts(tmp_path):
    release = get_task("kvasir", make_kvasir(tmp_path / "r", train=3, validation=2, test=1, size=40))
    original = get_task("kvasir", make_kvasir(tmp_path / "o", train=3, validation=2, test=1, size=40, layout="original"))
    assert len(release.labelled_cases()) == 5
    assert len(original.labelled_cases()) == 6
    case = release.labelled_cases()[0]
    assert release.read_image(case).shape == (40, 40, 3)
    assert release.read_mask(case).shape == (1, 40, 40)
    assert get_task("kvasir", tmp_path / "r" / "test").test_images() == ["images/5.jpg"]


def test_masks_threshold_at_127_and_pair_by_name(tmp_path):
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    mask = np.array([[0, 127, 128, 255]], np.uint8).repeat(4, 0)
    cv2.imwrite(str(tmp_path / "masks" / "b.png"), mask)  # lossless, to pin the threshold exactly
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), np.zeros_like(mask))
    for name in ("b", "a"):
        cv2.imwrite(str(tmp_path / "images" / f"{name}.jpg"), np.zeros((4, 4, 3), np.uint8))
    task = get_task("kvasir", tmp_path)
    assert task.labelled_cases() == ["images/a.jpg", "images/b.jpg"]
    np.testing.assert_array_equal(task.read_mask("images/b.jpg")[0], mask > 127)
    assert not task.read_mask("images/a.jpg").any()
    (tmp_path / "masks" / "a.png").unlink()
    with pytest.raises(UserError, match="image without mask"):
        task.labelled_cases()

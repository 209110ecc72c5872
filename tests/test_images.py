import cv2
import numpy as np
import pytest

from data.images import read_image
from errors import UserError


def test_reads_gray_rgba_and_16bit(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    cv2.imwrite(str(tmp_path / "deep.png"), gray.astype(np.uint16) * 256)
    bgra = np.zeros((3, 4, 4), np.uint8)
    bgra[..., 2] = 200  # red in OpenCV's BGR order
    bgra[..., 3] = 10
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    for name in ("gray.png", "deep.png"):
        image = read_image(tmp_path / name)
        assert image.shape == (3, 4, 3) and image.dtype == np.uint8
        np.testing.assert_array_equal(image[..., 0], gray)
    rgba = read_image(tmp_path / "rgba.png")
    assert rgba.shape == (3, 4, 3)
    assert (rgba[..., 0] == 200).all() and (rgba[..., 1:] == 0).all()


def test_unreadable_image_names_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(UserError, match="broken.png"):
        read_image(bad)

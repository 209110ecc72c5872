from pathlib import Path

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


def test_a_tiff_with_exif_orientation_6_reads_turned_as_a_viewer_shows_it(tmp_path):
    from PIL import Image

    from data.images import image_size, read_image
    pixels = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "o6.tif", exif=exif.tobytes())
    assert image_size(tmp_path / "o6.tif") == (30, 20)
    np.testing.assert_array_equal(read_image(tmp_path / "o6.tif"), np.rot90(pixels, k=-1))


def test_an_unreadable_image_is_still_one_line_once_a_yolo_member_is_built(tmp_path):
    """ultralytics, once imported, replaces Pillow's Image.open with one that reaches for the network on a file
    Pillow cannot identify; building a YOLO member puts Pillow's own back."""
    from PIL import Image

    from configs.load import load_config
    from configs.schema import MemberConfig
    from models import build_model

    config = load_config(Path(__file__).resolve().parents[1] / "configs/kvasir/tiny_yolo.yaml", MemberConfig)
    build_model(config.model, 1, with_pretrained=False)
    assert Image.open.__module__.startswith("PIL")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(UserError, match="broken.png"):
        read_image(bad)

"""Images and masks are read as a viewer shows them: the EXIF orientation applied, by every reader."""
import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from data import get_task
from data.images import image_size, read_binary_mask, read_image
from evaluate.score import score_csv
from submit.rle import decode, encode
from submit.validate import validate_csv
from tests.stubs import make_conv_run

ROOT = Path(__file__).resolve().parents[1]


def save_with_orientation(path: Path, pixels: np.ndarray, orientation: int) -> None:
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(path, exif=exif, quality=100)


def as_shown(path: Path) -> np.ndarray:
    """What a viewer shows, computed with PIL (independent of the project's reader)."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image))


@pytest.fixture
def rotated_kvasir(tmp_path) -> Path:
    """Kvasir's original layout: a 24x40 image and its mask stored sideways (EXIF 6), and an upright pair."""
    rng = np.random.default_rng(0)
    for name, orientation in (("sideways", 6), ("upright", 1)):
        pixels = rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)
        mask = np.zeros((24, 40), np.uint8)
        mask[2:9, 3:30] = 255  # far from symmetric: a wrong orientation cannot score 1
        for folder, data in (("images", pixels), ("masks", mask)):
            (tmp_path / folder).mkdir(exist_ok=True)
            save_with_orientation(tmp_path / folder / f"{name}.jpg", data, orientation)
    return tmp_path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_reads_as_pil_shows_it(tmp_path, orientation):
    pixels = np.zeros((12, 20, 3), np.uint8)
    pixels[:3, :5] = 255
    path = tmp_path / "x.png"
    save_with_orientation(path, pixels, orientation)
    shown = as_shown(path)
    assert read_image(path).shape == shown.shape and image_size(path) == shown.shape[:2]
    np.testing.assert_array_equal(read_image(path), shown)
    np.testing.assert_array_equal(read_binary_mask(path), shown[..., 0] > 127)


def test_a_rotated_kvasir_pair_scores_one_against_its_truth_and_votes_at_the_shown_size(rotated_kvasir, tmp_path,
                                                                                        run_cli):
    truth_csv = tmp_path / "truth.csv"
    with open(truth_csv, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["image_name", "class", "rle"])
        for name in ("sideways.jpg", "upright.jpg"):
            writer.writerow([name, "polyp", encode(as_shown(rotated_kvasir / "masks" / name) > 127)])
    report = score_csv("kvasir", truth_csv, rotated_kvasir, quiet=True)
    assert report.mean_dice == pytest.approx(1.0) and report.images == 2
    member = tmp_path / "m" / "fold0"
    make_conv_run(member, "kvasir", get_task("kvasir", rotated_kvasir).classes, image_size=32, seed=3)
    out = tmp_path / "sub.csv"
    code, _, err = run_cli("--quiet", "ensemble", "--config", ROOT / "configs/ensemble/kvasir.yaml", "--set",
                           f"members=[{member}]", f"data.root={rotated_kvasir}", f"output.csv={out}")
    assert code == 0, err
    assert validate_csv("kvasir", out, rotated_kvasir) == 2
    png = np.asarray(Image.open(tmp_path / "sub_masks" / "sideways.png"))
    assert png.shape == (40, 24)  # shown upright: the stored 24x40 turned a quarter
    with open(out, newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["image_name"] == "sideways.jpg")
    np.testing.assert_array_equal(decode(row["rle"], (40, 24)), png > 127)

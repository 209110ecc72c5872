"""Kvasir-SEG polyps: binary JPEG masks, in the release or the original layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import atomic
from data.images import IMAGE_SUFFIXES, image_size, list_images, read_binary_mask, write_image_atomic
from data.task import Task, require_nonempty
from errors import UserError
from names import TaskName

RELEASE_PARTS = ("train", "validation")


class KvasirTask(Task):
    """ROOT/{train,validation,test}/{images,masks}/N.jpg, or ROOT/images + ROOT/masks."""

    name = TaskName.KVASIR
    classes = ("polyp",)
    every_image_holds_every_class = True

    def image_dirs(self) -> list[Path]:
        """The labelled image folders present under the root."""
        if (self.root / "images").is_dir():
            return [self.root / "images"]
        dirs = [self.root / part / "images" for part in RELEASE_PARTS if (self.root / part / "masks").is_dir()]
        if not dirs:
            raise UserError(f"no Kvasir layout under {self.root}: expected images/ + masks/ or "
                            f"train/images + train/masks")
        return dirs

    def labelled_cases(self) -> list[str]:
        cases = []
        for image_dir in self.image_dirs():
            masks = {p.stem: p for p in one_per_stem(list_images(image_dir.parent / "masks"), "mask")}
            images = one_per_stem(list_images(image_dir), "image")
            for image in images:
                if image.stem not in masks:
                    raise UserError(f"image without mask: {image}")
            for stem, mask in masks.items():
                if stem not in {p.stem for p in images}:
                    raise UserError(f"mask without image: {mask}")
            cases += [p.relative_to(self.root).as_posix() for p in images]
        return require_nonempty(sorted(cases), self.root)

    def test_folder(self) -> Path:
        """The images to predict: ROOT/images, the release layout's ROOT/test/images, else every image below ROOT."""
        for folder in (self.root / "images", self.root / "test" / "images"):
            if folder.is_dir():
                return folder
        return self.root

    def test_images(self) -> list[str]:
        folder = self.test_folder()
        images = one_per_stem(list_images(folder), "test image")  # their PNG masks would overwrite each other
        cases = require_nonempty([p.relative_to(self.root).as_posix() for p in images], folder)
        self.cases_by_name(cases)
        return cases

    def label_path(self, case: str) -> Path:
        image = self.root / case
        for candidate in sorted((image.parent.parent / "masks").glob(image.stem + ".*")):
            if candidate.suffix.lower() in IMAGE_SUFFIXES:
                return candidate
        raise UserError(f"image without mask: {image}")

    def read_mask(self, case: str) -> np.ndarray:
        mask = read_binary_mask(self.label_path(case))
        self.check_mask_size(case, mask.shape)
        return mask[None]

    def write_label(self, case: str, masks: np.ndarray, root: Path) -> str:
        """The case's image (its bytes) and `masks` (1xHxW, as a PNG) as a labelled case under `root`
        (images/ + masks/); returns its case there."""
        name = Path(case).name
        atomic.write_bytes(root / "images" / name, self.path(case).read_bytes())
        write_image_atomic(root / "masks" / f"{Path(name).stem}.png", masks[0].astype(np.uint8) * 255)
        return f"images/{name}"

    def check_case(self, case: str) -> None:
        self.check_mask_size(case, image_size(self.label_path(case), "mask"))

    def check_mask_size(self, case: str, mask_shape: tuple[int, ...]) -> None:
        """The mask must cover its image as shown (both EXIF-oriented): a resized or foreign mask is refused."""
        height, width = image_size(self.root / case)
        if tuple(mask_shape) != (height, width):
            raise UserError(f"mask {self.label_path(case)} is {mask_shape[1]}x{mask_shape[0]} but its image "
                            f"{self.root / case} is {width}x{height}")

    def release_split(self) -> tuple[list[str], list[str]]:
        """The fixed release split: (train cases, validation cases)."""
        cases = self.labelled_cases()
        train = [c for c in cases if c.startswith("train/")]
        val = [c for c in cases if c.startswith("validation/")]
        if not train or not val:
            raise UserError(f"{self.root} has no train/ and validation/ release split")
        return train, val


def one_per_stem(paths: list[Path], what: str) -> list[Path]:
    """`paths`, refusing two files of one folder that differ only in their suffix (`13.jpg`, `13.png`): which
    one is meant cannot be guessed."""
    seen: dict[tuple[Path, str], Path] = {}
    for path in paths:
        twin = seen.setdefault((path.parent, path.stem), path)
        if twin != path:
            raise UserError(f"two {what} files for one name: {twin} and {path}: keep one")
    return paths

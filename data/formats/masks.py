"""`binary-mask` (one mask image per image) and `mask-per-class` (a folder of mask images per class)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from data.formats.base import Labels, LabelWriter, image_folder_of, refuse_size
from data.formats.folders import FolderFormat
from data.images import read_binary_mask, write_image_atomic
from errors import UserError


class BinaryMask(FolderFormat):
    """`labels.folder/<sub>/<stem>.<png|jpg|...>`: non-zero (a JPEG: above 127) is the task's one class."""

    what = orphan = "mask"

    def read(self, case: str, shape: tuple[int, int]) -> Labels:
        """The case's one-class mask, the size of its image."""
        path = self.label_path(case)
        mask = read_binary_mask(path)
        refuse_size(path, mask.shape, shape)
        return Labels(mask[None])

    def writer(self, root: Path) -> LabelWriter:
        """A writer of 0/255 PNG masks under `root`."""
        return MaskWriter(self, root, [None])


class MaskPerClass(FolderFormat):
    """`labels.folder/<class>/<sub>/<stem>.<png|jpg|...>`: a binary mask per class, each present."""

    what = orphan = "mask"

    def label_path(self, case: str) -> Path:
        """The first class's mask of a case (the file that names its labels in messages)."""
        return self.class_path(case, self.classes[0])

    def class_path(self, case: str, name: str) -> Path:
        """The mask file of one class of a case."""
        index, relative = image_folder_of(self.spec, case)
        return self.find(self.label_folder(index) / name / relative.parent, relative.stem, case)

    def read(self, case: str, shape: tuple[int, int]) -> Labels:
        """Every class's mask of a case, stacked in class order."""
        planes = []
        for name in self.classes:
            path = self.class_path(case, name)
            planes.append(read_binary_mask(path))
            refuse_size(path, planes[-1].shape, shape)
        return Labels(np.stack(planes))

    def labelled_folders(self, index: int) -> list[tuple[Path, str]]:
        """The class folders present under the `index`-th label folder; a folder of another name is refused."""
        folder = self.label_folder(index)
        if not folder.is_dir():
            return []
        stranger = next((p for p in sorted(folder.iterdir()) if p.name not in self.classes), None)
        if stranger is not None:
            raise UserError(f"{stranger}: names a class the task does not list ({', '.join(self.classes)})")
        return [(folder / name, f"{name} mask") for name in self.classes if (folder / name).is_dir()]

    def check_pairing(self, cases: list[str]) -> None:
        """Pairing as every folder format, and every case with a mask in every class folder."""
        super().check_pairing(cases)
        for case in cases:
            for name in self.classes:
                self.class_path(case, name)

    def writer(self, root: Path) -> LabelWriter:
        """A writer of a 0/255 PNG per class under `root`."""
        return MaskWriter(self, root, list(self.classes))


class MaskWriter(LabelWriter):
    """Each mask as a 0/255 PNG in the label folder (under `<class>/` for mask-per-class)."""

    def __init__(self, fmt: FolderFormat, root: Path, class_folders: list[str | None]):
        """Write masks of `fmt` under `root`, each class into its folder of `class_folders` (None: the label folder)."""
        self.fmt, self.root, self.class_folders = fmt, root, class_folders

    def add(self, case: str, masks: np.ndarray) -> None:
        """Write each class plane of `masks` as a PNG in its folder."""
        index, relative = image_folder_of(self.fmt.spec, case)
        folder = self.root / self.fmt.spec.labels.folder[index]
        for name, mask in zip(self.class_folders, masks):
            target = (folder / name if name else folder) / relative.parent / f"{relative.stem}.png"
            write_image_atomic(target, mask.astype(np.uint8) * 255)

"""Folder formats: a label file per image (or per image and class), beside the image folders, paired by path."""
from __future__ import annotations

from pathlib import Path

from data.formats.base import LabelFormat, image_folder_of
from data.images import IMAGE_SUFFIXES
from errors import UserError


class FolderFormat(LabelFormat):
    """Labels of `images.train[i]/<sub>/<stem>.<image suffix>` in `labels.folder[i]/<sub>/<stem><suffix>`."""

    suffixes: tuple[str, ...] = IMAGE_SUFFIXES  # a label file's possible suffixes (one per stem)
    what = "label"  # a label file, in messages
    orphan = "label"  # a label file without its image, in messages

    def label_folder(self, index: int) -> Path:
        """The label folder beside the `index`-th `images.train` folder."""
        return self.root / self.spec.labels.folder[index]

    def present(self, image_folder: int) -> bool:
        """Whether that image folder's label folder exists."""
        return self.label_folder(image_folder).is_dir()

    def label_suffixes(self) -> tuple[str, ...]:
        """What may follow an image's stem in its label file's name: `labels.suffix` ('.png', '_mask.tif'), or the
        format's own suffixes."""
        suffix = self.spec.labels.suffix
        return ((suffix if "." in suffix else f".{suffix}").lower(),) if suffix else self.suffixes

    def stem_of(self, name: str) -> str | None:
        """The image stem a label file's name belongs to, or None for a file that is no label of this format."""
        lowered = name.lower()
        suffix = next((s for s in self.label_suffixes() if lowered.endswith(s) and len(lowered) > len(s)), None)
        return None if suffix is None else name[:-len(suffix)]

    def is_label_file(self, path: Path) -> bool:
        """Whether an image file is one of these labels: inside a label folder, and named as a label where labels
        and images share a folder (`x.tif` beside `x_mask.tif`)."""
        inside = any(path.parent.is_relative_to(self.root / folder) for folder in self.spec.labels.folder)
        shared = any((self.root / folder).resolve() == (self.root / image).resolve()
                     for folder, image in zip(self.spec.labels.folder, self.spec.images.train))
        return inside and (not shared or (bool(self.spec.labels.suffix) and self.stem_of(path.name) is not None))

    def label_path(self, case: str) -> Path:
        """The one label file of a case: same path below the label folder, a label suffix."""
        index, relative = image_folder_of(self.spec, case)
        return self.find(self.label_folder(index) / relative.parent, relative.stem, case)

    def find(self, folder: Path, stem: str, case: str) -> Path:
        """The one label file of `stem` in `folder`, or one line naming the image without it."""
        names = dict.fromkeys(f"{stem}{spelling}" for s in self.label_suffixes() for spelling in (s, s.upper()))
        found = [folder / name for name in names if (folder / name).is_file()]
        if not found:
            raise UserError(f"image without {self.what}: {self.root / case} (expected {folder / stem}"
                            f"{self.spec.labels.suffix or self.label_suffixes()[0]})")
        if len(found) > 1:
            raise UserError(f"two {self.what} files for one name: {found[0]} and {found[1]}: keep one")
        return found[0]

    def label_files(self, folder: Path) -> list[Path]:
        """Every label file below `folder`."""
        return sorted(p for p in folder.rglob("*") if p.is_file() and self.stem_of(p.name) is not None)

    def check_pairing(self, cases: list[str]) -> None:
        """Every case has its label, and every label file below a label folder its case."""
        keys = set()
        for case in cases:
            index, relative = image_folder_of(self.spec, case)
            keys.add((index, relative.with_suffix("").as_posix()))
            self.label_path(case)
        for index, _ in enumerate(self.spec.images.train):
            for folder, label in self.labelled_folders(index):
                for path in self.label_files(folder):
                    stem = path.relative_to(folder).parent / self.stem_of(path.name)
                    if (index, stem.as_posix()) not in keys:
                        raise UserError(f"{label} without image: {path}")

    def labelled_folders(self, index: int) -> list[tuple[Path, str]]:
        """(folder, what it holds) of the label folders of the `index`-th image folder present under the root."""
        folder = self.label_folder(index)
        return [(folder, self.orphan)] if folder.is_dir() else []

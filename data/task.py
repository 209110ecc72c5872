"""The Task seam: everything downstream sees classes, cases, images, masks and groups."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from pathlib import Path
from typing import ClassVar

import numpy as np

from data.images import image_size, read_image
from data.preprocess import Preprocess, no_preprocess
from errors import UserError


class Task(ABC):
    """A dataset root in a task's on-disk layout. Cases are image paths relative to the root."""

    name: ClassVar[str]
    classes: ClassVar[tuple[str, ...]]
    every_image_holds_every_class: ClassVar[bool] = False  # true of both built-in tasks (a polyp; all 29 bones)

    def __init__(self, root: Path | str, preprocess: Preprocess = no_preprocess):
        self.root, self.preprocess = Path(root), preprocess
        if not self.root.is_dir():
            raise UserError(f"data root is not a folder: {self.root}")

    @abstractmethod
    def labelled_cases(self) -> list[str]:
        """Relative paths of every labelled image, sorted."""

    @abstractmethod
    def read_mask(self, case: str) -> np.ndarray:
        """CxHxW bool mask of a labelled case."""

    @abstractmethod
    def test_images(self) -> list[str]:
        """Relative paths of the unlabelled images to predict, sorted."""

    @abstractmethod
    def write_label(self, case: str, masks: np.ndarray, root: Path) -> str:
        """Write a case's image with CxHxW `masks` as a labelled case of this layout under `root`; its case there."""

    @abstractmethod
    def test_folder(self) -> Path:
        """The folder whose images (at any depth) are the test images: no output may be written inside it."""

    @abstractmethod
    def label_path(self, case: str) -> Path:
        """The label file (mask or polygons) of a labelled case."""

    def path(self, case: str) -> Path:
        """The image file of a case."""
        return self.root / case

    def label_folders(self, cases: list[str]) -> list[Path]:
        """The folders holding these labelled cases' images and labels, and every folder between them and the
        root (`train/outputs_json` as well as `train/outputs_json/ID001`): no output may be written among them."""
        folders = set()
        for case in cases:
            for file in (self.path(case), self.label_path(case)):
                folders.update(folder for folder in (file.parent, *file.parent.parents)
                               if folder != self.root and folder.is_relative_to(self.root))
        return sorted(folders)

    def read_image(self, case: str) -> np.ndarray:
        """HxWx3 uint8 RGB image of a case (labelled or test), through the task's preprocessing."""
        return self.preprocess(read_image(self.root / case))

    def check_case(self, case: str) -> None:
        """Refuse in one line, from headers and labels alone, a case that cannot be read as it is shown."""
        image_size(self.root / case)

    def check_cases(self, cases: list[str], source: str) -> None:
        """Before any work: every case `source` names is a labelled case of this root, and readable."""
        known = set(self.labelled_cases())
        stranger = next((c for c in cases if c not in known), None)
        if stranger is not None and ROOT_SEPARATOR in str(stranger):
            raise UserError(f"{source} names {stranger!r}, a case of the data root "
                            f"{str(stranger).partition(ROOT_SEPARATOR)[0]!r}, which data.extra_roots does not have")
        if stranger is not None:
            raise UserError(f"{source} names {stranger!r}, which is not a labelled image under {self.root}")
        for case in cases:
            self.check_case(case)

    def group(self, case: str) -> str:
        """Cases of one group always land in the same fold."""
        return case

    def cases_by_name(self, cases: list[str]) -> dict[str, str]:
        """Map base name -> case, refusing duplicate base names."""
        counts = Counter(Path(c).name for c in cases)
        duplicated = [name for name, n in counts.items() if n > 1]
        if duplicated:
            first = sorted(c for c in cases if Path(c).name == duplicated[0])
            raise UserError(f"duplicate image name {duplicated[0]!r}: {', '.join(first)}")
        return {Path(c).name: c for c in cases}


ROOT_SEPARATOR = "::"  # '<extra root name>::<case>' names a case of an extra data root


class JoinedTask(Task):
    """One task over several data roots of its layout: the first root's cases as they are, the cases of
    each extra root (pseudo-labels, say) as '<name>::<case>'. Test images are the first root's."""

    def __init__(self, primary: Task, extras: dict[str, Task]):
        self.primary, self.extras = primary, extras
        self.root, self.preprocess = primary.root, primary.preprocess
        self.name, self.classes = primary.name, primary.classes
        self.every_image_holds_every_class = primary.every_image_holds_every_class

    def part(self, case: str) -> tuple[Task, str]:
        name, separator, inner = case.partition(ROOT_SEPARATOR)
        if not separator:
            return self.primary, case
        if name not in self.extras:
            raise UserError(f"case {case!r} names the data root {name!r}, which data.extra_roots does not have")
        return self.extras[name], inner

    def labelled_cases(self) -> list[str]:
        """The primary root's cases, then each extra root's (extra roots may share image names: each fold's
        pseudo-labels of the same test images; a fold's validation names must be unique, `check_cases`)."""
        return self.primary.labelled_cases() + [f"{name}{ROOT_SEPARATOR}{case}" for name, task in self.extras.items()
                                                for case in task.labelled_cases()]

    def test_images(self) -> list[str]:
        return self.primary.test_images()

    def write_label(self, case: str, masks: np.ndarray, root: Path) -> str:
        task, inner = self.part(case)
        return task.write_label(inner, masks, root)

    def path(self, case: str) -> Path:
        task, inner = self.part(case)
        return task.path(inner)

    def label_path(self, case: str) -> Path:
        task, inner = self.part(case)
        return task.label_path(inner)

    def test_folder(self) -> Path:
        return self.primary.test_folder()

    def read_image(self, case: str) -> np.ndarray:
        task, inner = self.part(case)
        return task.read_image(inner)

    def read_mask(self, case: str) -> np.ndarray:
        task, inner = self.part(case)
        return task.read_mask(inner)

    def check_case(self, case: str) -> None:
        task, inner = self.part(case)
        task.check_case(inner)

    def group(self, case: str) -> str:
        task, inner = self.part(case)
        return task.group(inner)


def require_nonempty(items: list[str], folder: Path) -> list[str]:
    """`items`, or one line saying `folder` holds no images."""
    if not items:
        raise UserError(f"no images found in {folder}")
    return items

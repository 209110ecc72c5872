"""One task over several data roots of its layout (the primary root and `data.extra_roots`, pseudo-labels say)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from data.formats import Labels
from data.task import Task
from errors import UserError
from names import ROOT_SEPARATOR


class JoinedTask(Task):
    """One task over several data roots of its layout: the first root's cases as they are, the cases of
    each extra root (pseudo-labels, say) as '<name>::<case>'. Test images are the first root's."""

    def __init__(self, primary: Task, extras: dict[str, Task]):
        """`primary`'s cases as they are, and each extra root's named by its key."""
        self.primary, self.extras = primary, extras
        self.spec, self.root, self.preprocess = primary.spec, primary.root, primary.preprocess
        self.labels = primary.labels
        self.name, self.classes, self.suffixes = primary.name, primary.classes, primary.suffixes
        self.every_image_holds_every_class, self.pattern = primary.every_image_holds_every_class, primary.pattern

    def part(self, case: str) -> tuple[Task, str]:
        """The root a case belongs to and its path there."""
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
        """The primary root's test images."""
        return self.primary.test_images()

    def path(self, case: str) -> Path:
        """The image file of a case of any root."""
        task, inner = self.part(case)
        return task.path(inner)

    def label_path(self, case: str) -> Path:
        """The label file of a case of any root."""
        task, inner = self.part(case)
        return task.label_path(inner)

    def test_folder(self) -> Path:
        """The primary root's test folder."""
        return self.primary.test_folder()

    def read_image(self, case: str) -> np.ndarray:
        """The image of a case of any root."""
        task, inner = self.part(case)
        return task.read_image(inner)

    def read_labels(self, case: str) -> Labels:
        """The labels of a case of any root."""
        task, inner = self.part(case)
        return task.read_labels(inner)

    def check_case(self, case: str) -> None:
        """Check a case of any root."""
        task, inner = self.part(case)
        task.check_case(inner)

    def group(self, case: str) -> str:
        """The group of a case within its own root."""
        task, inner = self.part(case)
        return task.group(inner)

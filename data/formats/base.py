"""What every label format is: a reader of one case's masks (and ignored pixels) and a writer of new cases."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from configs.task import TaskSpec
from errors import UserError


@dataclass(frozen=True)
class Labels:
    """A case's labels: CxHxW bool masks, and the HxW pixels counted in neither loss nor metric (or None)."""

    masks: np.ndarray
    ignore: np.ndarray | None = None


class LabelFormat(ABC):
    """Reads and writes a task's labels under one data root. Cases are image paths relative to the root; each
    lies in one of the task's `images.train` folders."""

    def __init__(self, spec: TaskSpec, root: Path):
        """Labels of the task `spec` describes, under the data root `root`."""
        self.spec, self.root = spec, root
        self.classes = tuple(spec.classes)

    @abstractmethod
    def present(self, image_folder: int) -> bool:
        """Whether the labels of the `image_folder`-th `images.train` folder exist under this root."""

    @abstractmethod
    def check_pairing(self, cases: list[str]) -> None:
        """Refuse, naming it, a label without its image among `cases` (all labelled images) and an image without
        its label."""

    @abstractmethod
    def label_path(self, case: str) -> Path:
        """The file holding the case's labels."""

    @abstractmethod
    def read(self, case: str, shape: tuple[int, int]) -> Labels:
        """The case's labels at its image's (H, W)."""

    @abstractmethod
    def writer(self, root: Path) -> LabelWriter:
        """A writer of new labelled cases under `root` in this format (pseudo-labels, synthetic data)."""

    def is_label_file(self, path: Path) -> bool:
        """Whether an image file under an image folder is one of these labels (then it is no image)."""
        return False

    def check(self, case: str, shape: tuple[int, int]) -> None:
        """Refuse in one line a label that cannot be read as its image is shown."""
        self.read(case, shape)


class LabelWriter(ABC):
    """Adds labelled cases (their images already written) to a root; `close` finishes one-file formats."""

    @abstractmethod
    def add(self, case: str, masks: np.ndarray) -> None:
        """Write the CxHxW bool `masks` of the image at `case` (relative to the writer's root)."""

    def close(self) -> None:
        """Write what the format keeps in one file."""


def image_folder_of(spec: TaskSpec, case: str) -> tuple[int, Path]:
    """(index of the `images.train` folder holding `case`, the case's path relative to that folder)."""
    path = Path(case)
    for index, folder in enumerate(spec.images.train):
        if folder == "." or path.is_relative_to(folder):
            return index, path.relative_to(folder) if folder != "." else path
    raise UserError(f"{case} lies in none of the task's images.train folders ({', '.join(spec.images.train)})")


def refuse_size(label: Path, shape: tuple[int, ...], image_shape: tuple[int, int]) -> None:
    """A label must cover its image as shown: a resized or foreign label is refused."""
    if tuple(shape) != tuple(image_shape):
        raise UserError(f"label {label} is {shape[1]}x{shape[0]} but its image is {image_shape[1]}x{image_shape[0]}")

"""One-file formats: every image's labels in one file, images named in it by file name or stem."""
from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from pathlib import Path

from data.formats.base import LabelFormat
from errors import UserError


class OneFileFormat(LabelFormat):
    """`labels.file` names the images of the `images.train` folders by `labels.image` (name or stem)."""

    what = "label file"
    _table: dict[str, object] | None = None

    @property
    def path(self) -> Path:
        """The one label file under the root."""
        return self.root / self.spec.labels.file

    def present(self, image_folder: int) -> bool:
        """Whether the label file exists (one file serves every image folder)."""
        return self.path.is_file()

    def label_path(self, case: str) -> Path:
        """The one label file: it holds every case's labels."""
        return self.path

    def key(self, name: str) -> str:
        """How the label file names the image at path or file name `name`."""
        path = Path(name)
        return path.stem if self.spec.labels.image == "stem" else path.name

    def table(self) -> dict[str, object]:
        """Image key -> what the file holds for it, read once."""
        if self._table is None:
            self._table = self.parse()
        return self._table

    @abstractmethod
    def parse(self) -> dict[str, object]:
        """Read and check the whole file: image key -> its labels as the file holds them."""

    def entry(self, case: str) -> object:
        """What the file holds for a case, or one line naming the image it does not label."""
        table = self.table()
        if self.key(case) not in table:
            raise UserError(f"image without label: {self.root / case} is not in {self.path}")
        return table[self.key(case)]

    def check_pairing(self, cases: list[str]) -> None:
        """Image keys unique, every labelled key an image among `cases`, every case labelled."""
        counts = Counter(self.key(case) for case in cases)
        twice = next((key for key, n in counts.items() if n > 1), None)
        if twice is not None:
            raise UserError(f"two images named {twice!r} in the images.train folders: {self.path} cannot tell "
                            f"them apart")
        stranger = next((key for key in self.table() if key not in counts), None)
        if stranger is not None:
            raise UserError(f"label without image: {self.path} labels {stranger!r}, which no images.train folder "
                            f"holds")
        for case in cases:
            self.entry(case)

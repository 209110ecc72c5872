"""`label-map`: one single-channel PNG per image; 0 is background, value i >= 1 the i-th class, `ignore` neither."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from data.formats.base import Labels, LabelWriter, image_folder_of, refuse_size
from data.formats.folders import FolderFormat
from data.images import image_size, write_image_atomic
from errors import UserError

INDEX_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L")  # PIL modes of one channel (a palette: its indices)


def read_indices(path: Path) -> np.ndarray:
    """The class indices of a label map: grey 8/16-bit, or a palette image's indices (not its colours)."""
    image_size(path, "label map")  # a header too large is refused before decoding
    try:
        with Image.open(path) as image:
            if image.mode not in INDEX_MODES:
                raise UserError(f"label map {path} is {image.mode}: a label map is one channel of class indices")
            return np.array(image).astype(np.int64)
    except (OSError, ValueError, SyntaxError):
        raise UserError(f"cannot read label map: {path}") from None


class LabelMap(FolderFormat):
    """A class index per pixel: classes never overlap."""

    suffixes = (".png",)

    def read(self, case: str, shape: tuple[int, int]) -> Labels:
        """The case's masks (value i -> class i) and ignored pixels; a value above the classes is refused."""
        path = self.label_path(case)
        plane = read_indices(path)
        refuse_size(path, plane.shape, shape)
        ignore_value = self.spec.labels.ignore
        values = np.unique(plane)
        bad = values[(values > len(self.classes)) & (values != (ignore_value if ignore_value is not None else -1))]
        if bad.size:
            raise UserError(f"label map {path} holds the value {int(bad[0])}, above the task's {len(self.classes)} "
                            f"classes" + (f" (its ignore value is {ignore_value})" if ignore_value is not None else ""))
        masks = plane[None] == np.arange(1, len(self.classes) + 1)[:, None, None]
        ignore = plane == ignore_value if ignore_value is not None and (values == ignore_value).any() else None
        return Labels(masks, ignore)

    def writer(self, root: Path) -> LabelWriter:
        """A writer of label-map PNGs under `root`."""
        return LabelMapWriter(self, root)


class LabelMapWriter(LabelWriter):
    """Writes class indices (8-bit, or 16-bit above 255 classes); where masks overlap, the later class wins."""

    def __init__(self, fmt: LabelMap, root: Path):
        """Write label maps of `fmt` under `root`."""
        self.fmt, self.root = fmt, root

    def add(self, case: str, masks: np.ndarray) -> None:
        """Write the CxHxW `masks` of `case` as one PNG of class indices."""
        dtype = np.uint8 if len(masks) < 255 else np.uint16
        plane = np.zeros(masks.shape[1:], dtype)
        for index, mask in enumerate(masks, start=1):
            plane[mask] = index
        folder_index, relative = image_folder_of(self.fmt.spec, case)
        suffix = self.fmt.label_suffixes()[0]
        target = self.root / self.fmt.spec.labels.folder[folder_index] / relative.parent / f"{relative.stem}{suffix}"
        write_image_atomic(target, plane)

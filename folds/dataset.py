"""Training datasets: whole images resized to the training size, or random crops at native size;
images decoded once, masks bit-packed in memory."""
from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from data.resample import resize_image, resize_mask
from data.task import Task


class SegmentationDataset(Dataset):
    """(uint8 3xSxS image, uint8 CxSxS mask) pairs at the training size, optionally augmented."""

    def __init__(self, task: Task, cases: list[str], size: int, transform: A.Compose | None = None,
                 cache: bool = True, quiet: bool = False):
        """`cases` of `task` resized to `size` (decoded once with `cache`), augmented by `transform`."""
        self.task, self.cases, self.size, self.transform = task, cases, size, transform
        self._cached: list[tuple[np.ndarray, np.ndarray]] | None = None
        if cache:  # masks are cached with one bit per class and pixel
            self._cached = [(image, np.packbits(mask, axis=-1)) for image, mask in
                            map(self._load, tqdm(cases, desc="cache", unit="img", disable=quiet))]

    def _load(self, case: str) -> tuple[np.ndarray, np.ndarray]:
        return resize_image(self.task.read_image(case), self.size), resize_mask(self.task.read_target(case), self.size)

    def __len__(self) -> int:
        """The number of cases."""
        return len(self.cases)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The `index`-th case as (3xSxS uint8 image, CxSxS uint8 target), augmented."""
        if self._cached is not None:
            image, packed = self._cached[index]
            mask = np.unpackbits(packed, axis=-1, count=self.task.target_channels)
        else:
            image, mask = self._load(self.cases[index])
        return to_tensors(image, mask, self.transform)


def to_tensors(image: np.ndarray, mask: np.ndarray, transform: A.Compose | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment an HxWx3 image with its HxWxC mask -> (3xHxW uint8, CxHxW uint8) tensors."""
    if transform is not None:
        out = transform(image=image, mask=mask)
        image, mask = out["image"], out["mask"]
    mask = mask.reshape(image.shape[0], image.shape[1], -1)  # a one-class mask may come back HxW
    return (torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            torch.from_numpy(np.ascontiguousarray(mask.transpose(2, 0, 1))))


@dataclass(frozen=True)
class NativeCase:
    """An image at native size (padded to at least the crop size) and its mask, one bit per pixel and class."""

    image: np.ndarray    # HxWx3 uint8
    packed: np.ndarray   # CxHx(W/8) uint8, np.packbits along the width (the target: classes, ignored pixels)
    present: np.ndarray  # bool per class: classes with at least one pixel

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the padded image."""
        return self.image.shape[:2]

    def class_pixels(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """(ys, xs) of one class's pixels."""
        return np.nonzero(np.unpackbits(self.packed[channel], axis=-1, count=self.shape[1]))

    def crop(self, y0: int, x0: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The size x size window at (y0, x0): HxWx3 image and HxWxC uint8 mask; only its bytes are unpacked."""
        first, last = x0 // 8, -(-(x0 + size) // 8)
        bits = np.unpackbits(self.packed[:, y0:y0 + size, first:last], axis=-1)
        offset = x0 - first * 8
        mask = bits[:, :, offset:offset + size].transpose(1, 2, 0)
        return self.image[y0:y0 + size, x0:x0 + size], mask


class CropDataset(Dataset):
    """Random size x size crops at native resolution, `crops_per_image` per image and epoch.

    A `foreground_share` of the crops is centred on a pixel of one class drawn among those present
    in the image, so small bones are cut as often as large ones; the rest lie anywhere. With
    `cache`, images are decoded once at native size; either way each step cuts only its crop."""

    def __init__(self, task: Task, cases: list[str], size: int, crops_per_image: int, foreground_share: float,
                 transform: A.Compose | None = None, cache: bool = True, quiet: bool = False):
        """`crops_per_image` crops of `size` px per case and epoch, `foreground_share` of them centred on a class."""
        self.task, self.cases, self.size, self.transform = task, cases, size, transform
        self.crops_per_image, self.foreground_share = crops_per_image, foreground_share
        self._cached: list[NativeCase] | None = None
        if cache:
            self._cached = [self._load(case) for case in tqdm(cases, desc="cache", unit="img", disable=quiet)]

    def _load(self, case: str) -> NativeCase:
        image, mask = self.task.read_image(case), self.task.read_target(case)
        pad_h, pad_w = max(0, self.size - image.shape[0]), max(0, self.size - image.shape[1])
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)))
            mask = np.pad(mask, ((0, 0), (0, pad_h), (0, pad_w)))
        return NativeCase(image, np.packbits(mask, axis=-1), mask[:len(self.task.classes)].any(axis=(1, 2)))

    def __len__(self) -> int:
        """Crops per epoch: cases x `crops_per_image`."""
        return len(self.cases) * self.crops_per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A random crop of the case `index` belongs to, augmented, as (image, target) tensors."""
        position = index // self.crops_per_image
        case = self._cached[position] if self._cached is not None else self._load(self.cases[position])
        rng = np.random.default_rng(int(torch.randint(2**62, ())))  # torch's RNG: seeded per epoch and worker
        image, mask = case.crop(*self.origin(case, rng), self.size)
        return to_tensors(image, mask, self.transform)

    def origin(self, case: NativeCase, rng: np.random.Generator) -> tuple[int, int]:
        """Top-left corner of the next crop."""
        height, width = case.shape
        present = np.flatnonzero(case.present)
        if present.size and rng.random() < self.foreground_share:
            ys, xs = case.class_pixels(int(rng.choice(present)))
            pick = rng.integers(len(ys))
            y0, x0 = ys[pick] - self.size // 2, xs[pick] - self.size // 2
        else:
            y0, x0 = rng.integers(0, height - self.size + 1), rng.integers(0, width - self.size + 1)
        return int(np.clip(y0, 0, height - self.size)), int(np.clip(x0, 0, width - self.size))

"""Training/validation datasets: images decoded and resized once, masks bit-packed in memory."""
from __future__ import annotations

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
        self.task, self.cases, self.size, self.transform = task, cases, size, transform
        self._cached: list[tuple[np.ndarray, np.ndarray]] | None = None
        if cache:  # masks are cached with one bit per class and pixel
            self._cached = [(image, np.packbits(mask, axis=-1)) for image, mask in
                            map(self._load, tqdm(cases, desc="cache", unit="img", disable=quiet))]

    def _load(self, case: str) -> tuple[np.ndarray, np.ndarray]:
        return resize_image(self.task.read_image(case), self.size), resize_mask(self.task.read_mask(case), self.size)

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cached is not None:
            image, packed = self._cached[index]
            mask = np.unpackbits(packed, axis=-1, count=len(self.task.classes))
        else:
            image, mask = self._load(self.cases[index])
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        image_t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        mask_t = torch.from_numpy(np.ascontiguousarray(mask.reshape(self.size, self.size, -1).transpose(2, 0, 1)))
        return image_t, mask_t

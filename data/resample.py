"""Resizing images, masks and probability maps between an image's own size and a model's grid."""
from __future__ import annotations

import cv2
import numpy as np


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """HxWx3 uint8 -> size x size x 3 (area when shrinking, linear when growing)."""
    shrinking = image.shape[0] > size or image.shape[1] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def rescale_image(image: np.ndarray, scale: float) -> np.ndarray:
    """HxWx3 uint8 scaled by `scale` on both sides (area when shrinking, linear when growing)."""
    height, width = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """CxHxW bool -> size x size x C uint8 (nearest), channels last for albumentations."""
    hwc = np.ascontiguousarray(mask.transpose(1, 2, 0), dtype=np.uint8)
    out = cv2.resize(hwc, (size, size), interpolation=cv2.INTER_NEAREST)
    return out.reshape(size, size, -1)


def resize_plane(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear (half-pixel centres) resampling of one HxW float map; unchanged when already `shape`."""
    if plane.shape == tuple(shape):
        return plane
    return cv2.resize(plane, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def bounded_grid(shape: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`shape` scaled down (aspect kept) so that neither side exceeds `max_side`."""
    height, width = shape
    scale = max_side / max(height, width)
    if scale >= 1:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def shrink_probs(probs: np.ndarray, max_side: int) -> np.ndarray:
    """CxhxW probabilities area-averaged onto `bounded_grid`; unchanged when already small enough."""
    height, width = bounded_grid(probs.shape[1:], max_side)
    if (height, width) == probs.shape[1:]:
        return probs
    return np.stack([cv2.resize(plane, (width, height), interpolation=cv2.INTER_AREA) for plane in probs])


def mask_on_grid(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """One HxW bool mask on another grid: a cell is set when at least half its area is."""
    if mask.shape == tuple(shape):
        return mask
    area = cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return area >= 0.5

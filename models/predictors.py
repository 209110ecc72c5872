"""Predictors: `predict(image HxWx3 uint8) -> CxhxW probabilities` on a grid of their own."""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
import torch.nn as nn
from monai.inferers import sliding_window_inference

from configs.schema import MemberConfig
from data.augment import normalize
from data.resample import resize_image
from models.device import autocast
from names import TTA, Inference


class Predictor(Protocol):
    """Anything that turns an image into per-class sigmoid probabilities."""

    def grid(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The (h, w) of the probabilities it returns for an image of `shape`."""

    def predict(self, image: np.ndarray) -> np.ndarray:
        """CxHxW float32 probabilities on `grid(image.shape[:2])`."""


class ResizePredictor:
    """Resize to the member's input size -> model -> sigmoid, on the member's grid."""

    def __init__(self, model: nn.Module, image_size: int, device: torch.device, amp: bool = False,
                 channels_last: bool = False):
        self.model, self.image_size, self.device, self.amp = model, image_size, device, amp
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def grid(self, shape: tuple[int, int]) -> tuple[int, int]:
        return self.image_size, self.image_size

    @torch.inference_mode()
    def predict_batch(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) uint8 at the input size -> (B, C, S, S) float32 probabilities on the CPU."""
        x = normalize(images.to(self.device)).contiguous(memory_format=self.memory_format)
        self.model.eval()  # the engine shares the model with training: never predict in train mode
        with autocast(self.device, self.amp):
            logits = self.model(x)
        return torch.sigmoid(logits.float()).cpu()

    def predict(self, image: np.ndarray) -> np.ndarray:
        resized = torch.from_numpy(resize_image(image, self.image_size).transpose(2, 0, 1).copy())
        return self.predict_batch(resized[None])[0].numpy()


class SlidingWindowPredictor:
    """Full-size prediction with MONAI's gaussian-weighted sliding windows of the input size.

    Windows run on the model's device; the full-size map is stitched on the CPU."""

    def __init__(self, model: nn.Module, window: int, device: torch.device, overlap: float = 0.25,
                 amp: bool = False):
        self.model, self.window, self.device, self.overlap, self.amp = model, window, device, overlap, amp

    def grid(self, shape: tuple[int, int]) -> tuple[int, int]:
        return tuple(shape)

    @torch.inference_mode()
    def predict(self, image: np.ndarray) -> np.ndarray:
        x = normalize(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
        self.model.eval()
        with autocast(self.device, self.amp):
            logits = sliding_window_inference(x, self.window, 1, self.model, overlap=self.overlap, mode="gaussian",
                                              sw_device=self.device, device=torch.device("cpu"))
        return torch.sigmoid(logits.float())[0].numpy()


class HorizontalFlipTTA:
    """Average of the prediction and the un-flipped prediction of the flipped image."""

    def __init__(self, inner: Predictor):
        self.inner = inner

    def grid(self, shape: tuple[int, int]) -> tuple[int, int]:
        return self.inner.grid(shape)

    def predict(self, image: np.ndarray) -> np.ndarray:
        flipped = self.inner.predict(np.ascontiguousarray(image[:, ::-1]))[:, :, ::-1]
        return (self.inner.predict(image) + flipped) / 2


def build_predictor(config: MemberConfig, model: nn.Module, device: torch.device, tta: str = TTA.NONE) -> Predictor:
    """The member's predictor as its config asks: resize or sliding window, optionally hflip TTA."""
    size, train = config.data.image_size, config.train
    if config.model.inference == Inference.SLIDING_WINDOW:
        predictor = SlidingWindowPredictor(model, size, device, config.model.overlap, train.amp)
    else:
        predictor = ResizePredictor(model, size, device, train.amp, train.channels_last)
    return HorizontalFlipTTA(predictor) if tta == TTA.HFLIP else predictor

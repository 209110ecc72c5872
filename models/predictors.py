"""Predictors: `predict(image HxWx3 uint8) -> CxhxW probabilities` on a grid of their own."""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
import torch.nn as nn
from monai.inferers import sliding_window_inference

from configs.schema import MAX_SIDE, MemberConfig
from data.augment import normalize
from data.resample import rescale_image, resize_image
from errors import UserError
from models.device import amp_dtype, autocast
from models.registry import family
from models.tta import VIEWS, TestTimeAugmentation, scaled_size
from names import TTA, Inference

STITCH_ON_DEVICE_MAX_PIXELS = 1024 * 1024  # larger images are stitched on the CPU, not in GPU memory



def as_voted(probs: np.ndarray) -> np.ndarray:
    """A member's probabilities as everything downstream takes them -- validation, OOF files, the vote with or
    without its cache: rounded to float16 on the member's own grid, so validation Dice, OOF and ensemble agree."""
    return probs.astype(np.float16).astype(np.float32)

class Predictor(Protocol):
    """Anything that turns images into per-class sigmoid probabilities on a grid of its own."""

    precision: torch.dtype | None  # the autocast dtype of its forward passes; None: float32

    def grid(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The (h, w) of the probabilities it returns for an image of `shape`."""

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The image as this predictor consumes it (what is worth keeping between predictions);
        predicting the prepared image gives the probabilities of the original."""

    def predict_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """CxhxW float32 probabilities on `grid(image.shape[:2])` for every HxWx3 uint8 image."""

    def predict(self, image: np.ndarray) -> np.ndarray:
        """`predict_batch` of one image."""


class ResizePredictor:
    """Resize to the member's input size -> model -> sigmoid, on the member's grid."""

    def __init__(self, model: nn.Module, image_size: int, device: torch.device, precision: torch.dtype | None = None,
                 channels_last: bool = False):
        """`model` at `image_size` px on `device`, under autocast to `precision` when given."""
        self.model, self.image_size, self.device, self.precision = model, image_size, device, precision
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    @staticmethod
    def grid_for(shape: tuple[int, int], size: int) -> tuple[int, int]:
        """The grid an image of `shape` is predicted on at input `size`: size x size, whatever the image."""
        return size, size

    def grid(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The grid its probabilities come on: the training size."""
        return self.grid_for(shape, self.image_size)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The image as the model consumes it: resized to the training size."""
        return resize_image(image, self.image_size)

    @torch.inference_mode()
    def predict_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Cxhxw sigmoid probabilities of a batch, in one forward pass."""
        batch = torch.from_numpy(np.stack([self.prepare(image) for image in images]).transpose(0, 3, 1, 2))
        x = normalize(batch.to(self.device)).contiguous(memory_format=self.memory_format)
        self.model.eval()  # the engine shares the model with training: never predict in train mode
        with autocast(self.device, self.precision):
            logits = self.model(x)
        return list(torch.sigmoid(logits.float()).cpu().numpy())

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Cxhxw sigmoid probabilities of one image."""
        return self.predict_batch([image])[0]


class SlidingWindowPredictor:
    """Full-size prediction with MONAI's gaussian-weighted sliding windows of the input size.

    `sw_batch_size` windows run at once on the model's device; images above
    STITCH_ON_DEVICE_MAX_PIXELS are stitched on the CPU."""

    def __init__(self, model: nn.Module, window: int, device: torch.device, overlap: float = 0.25,
                 sw_batch_size: int = 1, precision: torch.dtype | None = None):
        """`model` over `window` px windows overlapping by `overlap`, `sw_batch_size` per forward."""
        self.model, self.window, self.device, self.overlap = model, window, device, overlap
        self.precision = precision
        self.sw_batch_size = sw_batch_size

    @staticmethod
    def grid_for(shape: tuple[int, int], size: int) -> tuple[int, int]:
        """The grid an image of `shape` is predicted on: the image's own size, whatever the window."""
        return int(shape[0]), int(shape[1])

    def grid(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The grid its probabilities come on: the image's own size."""
        return self.grid_for(shape, self.window)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The image as it is: windows are cut at native size."""
        return image

    def predict_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """CxHxW probabilities of each image, one at a time."""
        return [self.predict(image) for image in images]

    @torch.inference_mode()
    def predict(self, image: np.ndarray) -> np.ndarray:
        """CxHxW probabilities of one image from overlapping windows, blended (MONAI)."""
        x = normalize(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
        large = image.shape[0] * image.shape[1] > STITCH_ON_DEVICE_MAX_PIXELS
        self.model.eval()
        with autocast(self.device, self.precision):
            logits = sliding_window_inference(x, self.window, self.sw_batch_size, self.model, overlap=self.overlap,
                                              mode="gaussian", sw_device=self.device,
                                              device=torch.device("cpu") if large else self.device)
        return torch.sigmoid(logits.float())[0].cpu().numpy()


class RescaledInput:
    """The inner predictor on every image scaled by `scale` (sliding windows at another scale)."""

    def __init__(self, inner: Predictor, scale: float):
        """`inner` fed images rescaled by `scale`."""
        self.inner, self.scale, self.precision = inner, scale, inner.precision

    def predict_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The inner predictor's probabilities of each image rescaled by `scale`."""
        return self.inner.predict_batch([rescale_image(image, self.scale) for image in images])


def build_predictor(config: MemberConfig, model: nn.Module, device: torch.device, tta: TTA | None = None,
                    precision: torch.dtype | None | str = "member",
                    tta_scales: tuple[float, ...] | None = None) -> Predictor:
    """The member's predictor as its config asks: resize, sliding window or YOLO, with its own TTA
    (`model.tta`, `model.tta_scales`) unless `tta` / `tta_scales` say otherwise, and its own mixed precision
    (`train.amp`) unless `precision` says otherwise. Validation and the ensemble both build it here."""
    train, options = config.train, config.model
    kind = predictor_class(config)
    if precision == "member":
        precision = amp_dtype(device, train.amp, train.amp_dtype)

    def at_size(size: int) -> Predictor:
        if kind is SlidingWindowPredictor:
            return SlidingWindowPredictor(model, size, device, options.overlap, options.sw_batch_size, precision)
        if kind is ResizePredictor:
            return ResizePredictor(model, size, device, precision, train.channels_last)
        return kind(model, size, device, precision)

    size = config.data.image_size
    predictor = at_size(size)
    views, scales = VIEWS[tta or options.tta], tuple(tta_scales or options.tta_scales)
    if views == VIEWS[TTA.NONE] and scales == (1.0,):
        return predictor

    rescales_image = kind is SlidingWindowPredictor
    if not rescales_image:
        check_scaled_sizes(size, scales)

    def at_scale(scale: float) -> Predictor:
        if rescales_image:
            return RescaledInput(predictor, scale)  # same windows on a resized image
        return at_size(scaled_size(size, scale))  # a larger or smaller network input

    return TestTimeAugmentation(predictor, views, scales, at_scale)


def predictor_class(config: MemberConfig) -> type:
    """The predictor a member's config asks for: its family's own (YOLO), else by `model.inference`."""
    own = family(config.model.name).predictor
    if own is not None:
        return own
    return SlidingWindowPredictor if config.model.inference == Inference.SLIDING_WINDOW else ResizePredictor


def member_grid(config: MemberConfig, shape: tuple[int, int]) -> tuple[int, int]:
    """The grid the member predicts an image of `shape` on (TTA and scales undone), without building it."""
    return predictor_class(config).grid_for(shape, config.data.image_size)


def check_scaled_sizes(size: int, scales: tuple[float, ...]) -> None:
    """Network inputs of `size` x each scale are rounded to multiples of 32: two scales that round to one size
    would be the same view predicted twice, and no input may exceed MAX_SIDE."""
    sizes = [scaled_size(size, scale) for scale in scales]
    for index, (scale, side) in enumerate(zip(scales, sizes)):
        if side > MAX_SIDE:
            raise UserError(f"tta_scales: {scale:g} x image_size {size} asks for a {side} px input "
                            f"(at most {MAX_SIDE})")
        if side in sizes[:index]:
            other = scales[sizes.index(side)]
            raise UserError(f"tta_scales: {other:g} and {scale:g} both give a {side} px input at image_size {size} "
                            f"(sizes round to multiples of 32): keep one of them")

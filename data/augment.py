"""Albumentations training pipelines built from AugmentConfig, and input normalisation."""
from __future__ import annotations

import albumentations as A
import numpy as np
import torch

from configs.schema import AugmentConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BLACK_RECTANGLE_FRACTION = 0.3


def black_out_top_left(image: np.ndarray, **_) -> np.ndarray:
    """Black out the top-left 30% x 30% of the image (the Kvasir 'black rectangle')."""
    out = image.copy()
    h, w = image.shape[:2]
    out[: round(h * BLACK_RECTANGLE_FRACTION), : round(w * BLACK_RECTANGLE_FRACTION)] = 0
    return out


def build_transform(config: AugmentConfig, seed: int) -> A.Compose:
    """The training augmentations, geometric then photometric; a probability of 0 leaves a transform out.
    `seed` starts the stream; the training loader gives each (epoch, process, worker) its own."""
    candidates = [
        (config.black_rectangle, lambda p: A.Lambda(image=black_out_top_left, p=p)),
        (config.hflip, lambda p: A.HorizontalFlip(p=p)),
        (config.vflip, lambda p: A.VerticalFlip(p=p)),
        (config.rotate, lambda p: A.Rotate(limit=config.rotate_limit, border_mode=0, p=p)),
        (config.affine, lambda p: A.Affine(scale=config.affine_scale, p=p,
                                           translate_percent=(-config.affine_translate, config.affine_translate),
                                           rotate=(-config.affine_rotate, config.affine_rotate))),
        (config.color_jitter, lambda p: A.ColorJitter(config.jitter_brightness, config.jitter_contrast,
                                                      config.jitter_saturation, config.jitter_hue, p=p)),
        (config.clahe, lambda p: A.CLAHE(p=p)),
        (config.elastic, lambda p: A.ElasticTransform(alpha=config.elastic_alpha, sigma=config.elastic_sigma, p=p)),
        (config.gamma, lambda p: A.RandomGamma(gamma_limit=config.gamma_limit, p=p)),
        (config.hue_saturation, lambda p: A.HueSaturationValue(*((-limit, limit) for limit in config.hsv_limits),
                                                               p=p)),
        (config.rgb_shift, lambda p: A.RGBShift(*[(-config.rgb_shift_limit, config.rgb_shift_limit)] * 3, p=p)),
        (config.blur, lambda p: A.GaussianBlur(blur_limit=0, sigma_limit=config.blur_sigma, p=p)),
        (config.jpeg, lambda p: A.ImageCompression(quality_range=config.jpeg_quality, p=p)),
    ]
    return A.Compose([make(p) for p, make in candidates if p > 0], seed=seed)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> float, ImageNet-normalised, on the tensor's device."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1) * 255
    return (images.float() - mean) / std

"""Segmentation losses over (B, C, H, W) logits and {0,1} targets, combinable by weights.

All are multi-label (sigmoid per class); none applies softmax across classes."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.losses import DiceCELoss, DiceLoss, FocalLoss, TverskyLoss

from errors import UserError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NEAR_PIXEL_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))  # right, down, and both diagonals


class FocalTverskyLoss(nn.Module):
    """(1 - Tversky index)^gamma per sample and class, averaged (Abraham & Khan, 2019)."""

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75, smooth: float = 1e-5):
        super().__init__()
        self.tversky = TverskyLoss(sigmoid=True, alpha=alpha, beta=beta, smooth_nr=smooth, smooth_dr=smooth,
                                   reduction="none")
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.tversky(logits, target).clamp_min(0).pow(self.gamma).mean()


class NearPixelDiffLoss(nn.Module):
    """Mean squared difference of sigmoid scores between pixels `distance` apart
    horizontally, vertically and diagonally: a smoothness prior on the probability map."""

    def __init__(self, distance: int = 4):
        super().__init__()
        self.offsets = [(dy * distance, dx * distance) for dy, dx in NEAR_PIXEL_DIRECTIONS]

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        h, w = p.shape[-2:]
        terms = []
        for dy, dx in self.offsets:
            a = p[..., : h - dy, max(0, -dx): w - max(0, dx)]
            b = p[..., dy:, max(0, dx): w - max(0, -dx)]
            terms.append((a - b).pow(2).mean())
        return torch.stack(terms).mean()


def _bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, target)


def make_term(name: str, num_classes: int) -> LossFn:
    """One named loss term."""
    dice = DiceLoss(sigmoid=True)
    if name == "bce":
        return _bce
    if name == "dice":
        return dice
    if name == "bce_dice":
        return lambda logits, target: _bce(logits, target) + dice(logits, target)
    if name == "dice_ce":
        if num_classes != 1:
            raise UserError("train.loss.dice_ce: MONAI's DiceCE applies softmax CE for several classes; "
                            "use bce_dice for multi-label tasks")
        return DiceCELoss(sigmoid=True)
    if name == "focal":
        return FocalLoss(use_softmax=False, gamma=2.0)
    if name == "tversky":
        return TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7)
    if name == "focal_tversky":
        return FocalTverskyLoss()
    if name == "near_pixel":
        return NearPixelDiffLoss()
    raise UserError(f"unknown loss term {name!r}")


class CombinedLoss(nn.Module):
    """Weighted sum of named terms; deep-supervision outputs (a list) are averaged."""

    def __init__(self, weights: dict[str, float], num_classes: int):
        super().__init__()
        self.terms = [(weight, make_term(name, num_classes)) for name, weight in weights.items() if weight]

    def forward(self, output: torch.Tensor | list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        outputs = output if isinstance(output, list) else [output]
        losses = [sum(w * term(o.float(), target) for w, term in self.terms) for o in outputs]
        return torch.stack(losses).mean()

"""Segmentation losses over (B, C, H, W) logits and {0,1} targets, combinable by weights.

All are multi-label (sigmoid per class); none applies softmax across classes."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.losses import DiceCELoss, DiceLoss, FocalLoss, TverskyLoss

from errors import UserError
from names import LossTerm

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NEAR_PIXEL_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))  # right, down, and both diagonals


class FocalTverskyLoss(nn.Module):
    """(1 - Tversky index)^gamma per sample and class, averaged (Abraham & Khan, 2019)."""

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75, smooth: float = 1e-5):
        """Tversky index weighing false positives by `alpha`, false negatives by `beta`, raised to `gamma`."""
        super().__init__()
        self.tversky = TverskyLoss(sigmoid=True, alpha=alpha, beta=beta, smooth_nr=smooth, smooth_dr=smooth,
                                   reduction="none")
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(1 - Tversky index) ** gamma, averaged."""
        return self.tversky(logits, target).clamp_min(0).pow(self.gamma).mean()


class NearPixelDiffLoss(nn.Module):
    """Mean squared difference of sigmoid scores between pixels `distance` apart
    horizontally, vertically and diagonally: a smoothness prior on the probability map."""

    def __init__(self, distance: int = 4):
        """Compare pixels `distance` apart."""
        super().__init__()
        self.offsets = [(dy * distance, dx * distance) for dy, dx in NEAR_PIXEL_DIRECTIONS]

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared difference of each probability to those `distance` pixels away, over the four directions."""
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


def _bce_dice(_: int) -> LossFn:
    dice = DiceLoss(sigmoid=True)
    return lambda logits, target: _bce(logits, target) + dice(logits, target)


def _dice_ce(num_classes: int) -> LossFn:
    if num_classes != 1:
        raise UserError("train.loss.dice_ce: MONAI's DiceCE applies softmax CE for several classes; "
                        "use bce_dice for multi-label tasks")
    return DiceCELoss(sigmoid=True)


_TERMS: dict[LossTerm, Callable[[int], LossFn]] = {
    LossTerm.BCE: lambda _: _bce,
    LossTerm.DICE: lambda _: DiceLoss(sigmoid=True),
    LossTerm.BCE_DICE: _bce_dice,
    LossTerm.DICE_CE: _dice_ce,
    LossTerm.FOCAL: lambda _: FocalLoss(use_softmax=False, gamma=2.0),
    LossTerm.TVERSKY: lambda _: TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7),
    LossTerm.FOCAL_TVERSKY: lambda _: FocalTverskyLoss(),
    LossTerm.NEAR_PIXEL: lambda _: NearPixelDiffLoss(),
}


def make_term(name: str, num_classes: int) -> LossFn:
    """One named loss term (names: `names.LossTerm`)."""
    if name not in _TERMS:
        raise UserError(f"unknown loss term {name!r}")
    return _TERMS[LossTerm(name)](num_classes)


IGNORED_LOGIT = -1.0e4  # sigmoid 0: an ignored pixel agrees with its background target in every term


class CombinedLoss(nn.Module):
    """Weighted sum of named terms; deep-supervision outputs (a list) are averaged."""

    def __init__(self, weights: dict[str, float], num_classes: int):
        """The terms named in `weights` (name -> weight; zero weights left out) for `num_classes` classes."""
        super().__init__()
        self.terms = [(weight, make_term(name, num_classes)) for name, weight in weights.items() if weight]

    def forward(self, output: torch.Tensor | list[torch.Tensor], target: torch.Tensor,
                ignore: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of the logits `output` against the NxCxHxW `target`; pixels of the Nx1xHxW `ignore` mask count in
        no term (there the logit is held at a certain background and the target is background: no gradient, no
        overlap)."""
        outputs = output if isinstance(output, list) else [output]
        if ignore is not None:
            target = target.masked_fill(ignore, 0.0)
            outputs = [o.float().masked_fill(ignore, IGNORED_LOGIT) for o in outputs]
        losses = [sum(w * term(o.float(), target) for w, term in self.terms) for o in outputs]
        return torch.stack(losses).mean()

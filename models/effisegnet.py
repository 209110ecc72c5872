"""EffiSegNet (Vezakis et al., 2024): EfficientNet features, per-stage 3x3 projections,
nearest upsampling to the input size, summation, BN and two Ghost modules."""
from __future__ import annotations

import math

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.nets import EfficientNetBNFeatures

from errors import UserError
from models.pretrained import hub_download_guard
from models.registry import register
from names import ModelFamily

STAGE_CHANNELS = {  # output channels of the five EfficientNet feature stages
    0: (16, 24, 40, 112, 320), 1: (16, 24, 40, 112, 320), 2: (16, 24, 48, 120, 352),
    3: (24, 32, 48, 136, 384), 4: (24, 32, 56, 160, 448), 5: (24, 40, 64, 176, 512),
    6: (32, 40, 72, 200, 576), 7: (32, 48, 80, 224, 640),
}


class GhostModule(nn.Module):
    """GhostNet block: a 1x1 conv makes half the maps, a cheap depthwise 3x3 makes the rest."""

    def __init__(self, in_channels: int, out_channels: int, ratio: int = 2, cheap_kernel: int = 3):
        """`out_channels` maps of `in_channels`: 1/`ratio` of them by a 1x1 conv, the rest by cheap depthwise ones."""
        super().__init__()
        self.out_channels = out_channels
        primary = math.ceil(out_channels / ratio)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(in_channels, primary, 1, bias=False), nn.BatchNorm2d(primary), nn.ReLU(inplace=True))
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(primary, primary * (ratio - 1), cheap_kernel, padding=cheap_kernel // 2,
                      groups=primary, bias=False),
            nn.BatchNorm2d(primary * (ratio - 1)), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The primary convolution's maps and their cheap depthwise ghosts, concatenated."""
        primary = self.primary_conv(x)
        return torch.cat([primary, self.cheap_operation(primary)], dim=1)[:, : self.out_channels]


class StageProjection(nn.Module):
    """3x3 conv to `ch` -> ReLU -> BN (upsampling happens in the parent)."""

    def __init__(self, in_channels: int, ch: int):
        """Project `in_channels` to `ch`."""
        super().__init__()
        self.conv = nn.Conv2d(in_channels, ch, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.bn = nn.BatchNorm2d(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project one encoder stage to `ch` channels."""
        return self.bn(self.relu(self.conv(x)))


class EffiSegNetDecoder(nn.Module):
    """The published decoder over any encoder returning five feature maps (`self.encoder` of a subclass)."""

    encoder: nn.Module

    def build_decoder(self, stage_channels: tuple[int, ...], ch: int, num_classes: int,
                      deep_supervision: bool) -> None:
        """Make the stage projections, the ghost fusion and the heads (deep supervision adds one per stage)."""
        self.stages = nn.ModuleList(StageProjection(c, ch) for c in stage_channels)
        self.bn = nn.BatchNorm2d(ch)
        self.ghost1 = GhostModule(ch, ch)
        self.ghost2 = GhostModule(ch, ch)
        self.head = nn.Conv2d(ch, num_classes, 1, bias=False)
        self.deep_heads = (nn.ModuleList(nn.Conv2d(ch, num_classes, 1, bias=False) for _ in stage_channels)
                           if deep_supervision else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Logits at the input size (a list of them with deep supervision while training)."""
        size = x.shape[-2:]
        maps = [F.interpolate(stage(f), size=size, mode="nearest") for stage, f in zip(self.stages, self.encoder(x))]
        out = self.head(self.ghost2(self.ghost1(self.bn(torch.stack(maps).sum(0)))))
        if self.deep_heads is not None and self.training:
            return [out, *(head(m) for head, m in zip(self.deep_heads, maps))]
        return out


class EffiSegNet(EffiSegNetDecoder):
    """EffiSegNet-B{0..7}. The encoder keeps MONAI's unused conv head, as the published model does."""

    def __init__(self, variant: int = 0, ch: int = 32, num_classes: int = 1, pretrained: bool = False,
                 deep_supervision: bool = False, bn_momentum: float = 0.01):
        """EffiSegNet-B`variant` with `ch` decoder channels and `num_classes` heads (MONAI's encoder)."""
        super().__init__()
        with hub_download_guard(f"efficientnet-b{variant}"):
            self.encoder = EfficientNetBNFeatures(model_name=f"efficientnet-b{variant}", pretrained=pretrained,
                                                  norm=("batch", {"eps": 1e-3, "momentum": bn_momentum}))
        for unused in ("_avg_pooling", "_dropout", "_fc"):
            delattr(self.encoder, unused)
        self.build_decoder(STAGE_CHANNELS[variant], ch, num_classes, deep_supervision)


class EffiSegNetTimm(EffiSegNetDecoder):
    """The EffiSegNet decoder on a timm `features_only` encoder with five stages (any stride-2..32 backbone)."""

    def __init__(self, encoder: str = "tf_efficientnet_lite0", ch: int = 32, num_classes: int = 1,
                 pretrained: bool = False, deep_supervision: bool = False):
        """The decoder on the timm encoder `encoder`; refused in one line unless it has five stages."""
        super().__init__()
        if not timm.is_model(encoder):
            raise UserError(f"encoder: {encoder!r} is not a timm model")
        with hub_download_guard(encoder):
            self.encoder = timm.create_model(encoder, features_only=True, pretrained=pretrained)
        channels = tuple(self.encoder.feature_info.channels())
        if len(channels) != 5:
            raise UserError(f"encoder: {encoder} has {len(channels)} feature stages; the decoder needs 5")
        self.build_decoder(channels, ch, num_classes, deep_supervision)


@register(*(f"{ModelFamily.EFFISEGNET}-b{i}" for i in range(8)))
def effisegnet(name: str, ch: int = 32, num_classes: int = 1, pretrained: bool = False,
               deep_supervision: bool = False, bn_momentum: float = 0.01) -> EffiSegNet:
    """`bn_momentum` is the encoder's (MONAI's default 0.01); raise it for very short runs."""
    return EffiSegNet(int(name[-1]), ch, num_classes, pretrained, deep_supervision, bn_momentum)


@register(ModelFamily.EFFISEGNET_TIMM)
def effisegnet_timm(num_classes: int = 1, encoder: str = "tf_efficientnet_lite0", ch: int = 32,
                    pretrained: bool = False, deep_supervision: bool = False) -> EffiSegNetTimm:
    """EffiSegNet's decoder on any timm `features_only` encoder (ImageNet weights through timm)."""
    return EffiSegNetTimm(encoder, ch, num_classes, pretrained, deep_supervision)

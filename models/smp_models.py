"""Every segmentation-models-pytorch architecture through `smp.create_model`, any smp or `tu-` timm
encoder; `unetplusplus` is the UNet++ of the zoo under its own name."""
from __future__ import annotations

import segmentation_models_pytorch as smp
import torch.nn as nn

from models.pretrained import hub_download_guard
from models.registry import register
from names import ModelFamily


@register(ModelFamily.SMP)
def smp_model(num_classes: int = 1, arch: str = "Unet", encoder_name: str = "resnet34", pretrained: bool = False,
              **kwargs) -> nn.Module:
    """`arch` is an smp architecture name (Unet, UnetPlusPlus, FPN, DeepLabV3Plus, UPerNet, Segformer, ...)."""
    with hub_download_guard(encoder_name):
        return smp.create_model(arch, encoder_name=encoder_name, encoder_weights="imagenet" if pretrained else None,
                                classes=num_classes, **kwargs)


@register(ModelFamily.UNETPLUSPLUS)
def unetplusplus(num_classes: int = 1, encoder_name: str = "resnet34", pretrained: bool = False,
                 **kwargs) -> nn.Module:
    return smp_model(num_classes, "UnetPlusPlus", encoder_name, pretrained, **kwargs)

"""UNet++ from segmentation-models-pytorch, any smp or `tu-` timm encoder."""
from __future__ import annotations

import segmentation_models_pytorch as smp

from models import register
from names import ModelFamily
from models.pretrained import hub_download_guard


@register(ModelFamily.UNETPLUSPLUS)
def unetplusplus(num_classes: int = 1, encoder_name: str = "resnet34", pretrained: bool = False,
                 **kwargs) -> smp.UnetPlusPlus:
    with hub_download_guard(encoder_name):
        return smp.UnetPlusPlus(encoder_name=encoder_name, encoder_weights="imagenet" if pretrained else None,
                                classes=num_classes, **kwargs)

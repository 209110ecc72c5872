"""Every segmentation-models-pytorch architecture through its smp class, any smp or `tu-` timm encoder;
`unetplusplus` is the UNet++ of the zoo under its own name. Options are checked against the architecture's
own signature before anything is built."""
from __future__ import annotations

import segmentation_models_pytorch as smp
import timm
import torch.nn as nn

from errors import UserError
from models.pretrained import hub_download_guard
from models.registry import check_options, library_checks, register
from names import ModelFamily

SET_HERE = ("encoder_name", "encoder_weights", "classes")  # smp keywords this module fills from the member config


@register(ModelFamily.SMP)
def smp_model(num_classes: int = 1, arch: str = "Unet", encoder_name: str = "resnet34", pretrained: bool = False,
              **kwargs) -> nn.Module:
    """`arch` is an smp architecture name (Unet, UnetPlusPlus, FPN, DeepLabV3Plus, UPerNet, Segformer, ...);
    further options are the architecture's own keywords (smp's `encoder_depth`, `decoder_channels`, ...)."""
    architecture = smp_architecture(arch)
    check_encoder(encoder_name)
    options = check_options(architecture.__init__, kwargs, f"smp {arch}", set_by_caller=SET_HERE, forwarded=False)
    with hub_download_guard(encoder_name), library_checks(f"smp {arch}"):
        return architecture(encoder_name=encoder_name, encoder_weights="imagenet" if pretrained else None,
                            classes=num_classes, **options)


@register(ModelFamily.UNETPLUSPLUS)
def unetplusplus(num_classes: int = 1, encoder_name: str = "resnet34", pretrained: bool = False,
                 **kwargs) -> nn.Module:
    """smp's UnetPlusPlus on any smp or `tu-` timm encoder."""
    return smp_model(num_classes, "UnetPlusPlus", encoder_name, pretrained, **kwargs)


def smp_architecture(arch: str) -> type[nn.Module]:
    """The smp architecture class named `arch`, or one line listing them."""
    known = smp.MODEL_ARCHITECTURES_MAPPING
    if arch.lower() not in known:
        names = ", ".join(cls.__name__ for cls in known.values())
        raise UserError(f"arch: {arch!r} is not an smp architecture; available: {names}")
    return known[arch.lower()]


def check_encoder(name: str) -> None:
    """An smp encoder name, or `tu-` and a timm model name."""
    known = timm.is_model(name.removeprefix("tu-")) if name.startswith("tu-") else name in smp.encoders.encoders
    if not known:
        raise UserError(f"encoder_name: {name!r} is neither an smp encoder nor 'tu-' and a timm model")

"""SwinUNETR from MONAI in 2D; predicted over full images with sliding windows."""
from __future__ import annotations

from monai.networks.nets import SwinUNETR

from errors import UserError
from models.registry import check_options, library_checks, register
from names import ModelFamily


@register(ModelFamily.SWINUNETR)
def swinunetr(num_classes: int = 1, feature_size: int = 24, pretrained: bool = False, **kwargs) -> SwinUNETR:
    """MONAI's 2D SwinUNETR (RGB in, one sigmoid channel per class out)."""
    if pretrained:
        raise UserError("swinunetr has no 2D pretrained weights here; use model.weights: /path/file")
    options = check_options(SwinUNETR.__init__, kwargs, "MONAI SwinUNETR", forwarded=False,
                            set_by_caller=("in_channels", "out_channels", "feature_size", "spatial_dims"))
    with library_checks("MONAI SwinUNETR"):
        return SwinUNETR(in_channels=3, out_channels=num_classes, feature_size=feature_size, spatial_dims=2, **options)

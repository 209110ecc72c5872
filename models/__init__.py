"""The model zoo: `build(name, **kwargs)` over a registry the family modules fill."""
from __future__ import annotations

import torch.nn as nn

from configs.schema import ModelConfig
from errors import UserError
from models import effisegnet, smp_models, swinunetr, yolo  # noqa: F401  (each registers its names)
from models.pretrained import load_weights
from models.registry import available, build

__all__ = ["available", "build", "build_model"]


def build_model(config: ModelConfig, num_classes: int, with_pretrained: bool = True) -> nn.Module:
    """A member's network from its config; pretrained hub weights or a local weights file when asked."""
    if config.name not in available():
        raise UserError(f"model.name: unknown model {config.name!r}; available: {', '.join(available())}")
    try:
        model = build(config.name, num_classes=num_classes, pretrained=config.pretrained and with_pretrained,
                      **config.params)
    except UserError as err:
        raise UserError(f"model.params: {err}") from None
    if config.weights is not None and with_pretrained:
        load_weights(model, config.weights, config.trust_pickle)
    return model

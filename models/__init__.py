"""The model zoo: one registry, `build(name, **kwargs)`."""
from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from configs.schema import ModelConfig
from errors import UserError
from models.pretrained import load_weights

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(*names: str) -> Callable:
    """Register a constructor under one or more model names."""
    def decorator(constructor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        for name in map(str, names):
            _REGISTRY[name] = constructor if len(names) == 1 else _bind(constructor, name)
        return constructor
    return decorator


def _bind(constructor: Callable[..., nn.Module], name: str) -> Callable[..., nn.Module]:
    def build_named(**kwargs) -> nn.Module:
        return constructor(name, **kwargs)
    return build_named


def available() -> list[str]:
    return sorted(_REGISTRY)


def build(name: str, **kwargs) -> nn.Module:
    """Build a registered model with random or pretrained weights."""
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}; available: {', '.join(available())}")
    try:
        return _REGISTRY[name](**kwargs)
    except UserError:
        raise
    except (TypeError, KeyError, ValueError, RuntimeError) as err:  # what smp, timm and MONAI raise
        message = str(err).strip("'\"").splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"model {name!r} rejects its options: {message[:160]}") from None


def build_model(config: ModelConfig, num_classes: int, with_pretrained: bool = True) -> nn.Module:
    """A member's network from its config; pretrained hub weights or a local weights file when asked."""
    if config.name not in _REGISTRY:
        raise UserError(f"model.name: unknown model {config.name!r}; available: {', '.join(available())}")
    try:
        model = build(config.name, num_classes=num_classes, pretrained=config.pretrained and with_pretrained,
                      **config.params)
    except UserError as err:
        raise UserError(f"model.params: {err}") from None
    if config.weights is not None and with_pretrained:
        load_weights(model, config.weights, config.trust_pickle)
    return model


from models import effisegnet, swinunetr, unetplusplus, yolo  # noqa: E402,F401  (registration)

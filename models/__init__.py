"""The model zoo: one registry, `build(name, **kwargs)`."""
from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from errors import UserError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(*names: str) -> Callable:
    """Register a constructor under one or more model names."""
    def decorator(constructor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        for name in names:
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
    except TypeError as err:
        raise UserError(f"model {name!r}: {err}") from None


from models import effisegnet, swinunetr, unetplusplus, yolo  # noqa: E402,F401  (registration)

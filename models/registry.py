"""The private registry behind `models.build`: one `Family` per model name, as timm keeps a config per model."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import torch.nn as nn

from errors import UserError


@dataclass(frozen=True)
class Family:
    """Everything the project knows of one model name: its constructor, the trainer that trains it, the
    predictor it needs (None: by `model.inference`), the config keys only it reads, and the keys it refuses
    with the reason. Nothing outside the family's own module compares a model name."""

    build: Callable[..., nn.Module]
    trainer: Literal["segzoo", "ultralytics"] = "segzoo"
    predictor: Callable[..., Any] | None = None  # (model, image_size, device, precision) -> a Predictor
    own_keys: tuple[str, ...] = ()  # dotted member-config keys; another family's member must leave them unset
    refuses: Mapping[str, str] = field(default_factory=dict)  # dotted key -> why it cannot be set


_REGISTRY: dict[str, Family] = {}


def register(*names: str, **descriptor: Any) -> Callable:
    """Register a constructor (and its `Family` fields) under one or more model names (with several, it gets
    the name first); a name registered twice is a programming error, refused (timm warns; a silent overwrite
    hides a family)."""
    def decorator(constructor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        for name in map(str, names):
            if name in _REGISTRY:
                raise ValueError(f"model name {name!r} is registered twice")
            _REGISTRY[name] = Family(constructor if len(names) == 1 else _bind(constructor, name), **descriptor)
        return constructor
    return decorator


def _bind(constructor: Callable[..., nn.Module], name: str) -> Callable[..., nn.Module]:
    def build_named(**kwargs) -> nn.Module:
        return constructor(name, **kwargs)
    return build_named


@contextmanager
def registered(name: str, constructor: Callable[..., nn.Module]) -> Iterator[None]:
    """`name` registered for the duration of a block (test models), removed afterwards."""
    if name in _REGISTRY:
        raise ValueError(f"model name {name!r} is taken")
    _REGISTRY[name] = Family(constructor)
    try:
        yield
    finally:
        del _REGISTRY[name]


def available() -> list[str]:
    return sorted(_REGISTRY)


def families() -> dict[str, Family]:
    return dict(_REGISTRY)


def family(name: str) -> Family:
    if name not in _REGISTRY:
        raise UserError(f"model.name: unknown model {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name]


def build(name: str, **kwargs) -> nn.Module:
    """Build a registered model with random or pretrained weights."""
    constructor = family(name).build
    try:
        return constructor(**kwargs)
    except UserError:
        raise
    except (TypeError, KeyError, ValueError, RuntimeError, AttributeError) as err:  # what smp, timm and MONAI raise
        message = str(err).strip("'\"").splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"model {name!r} rejects its options: {message[:160]}") from None

"""The private registry of model constructors behind `models.build`."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch.nn as nn

from errors import UserError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(*names: str) -> Callable:
    """Register a constructor under one or more model names (with several, it gets the name first); a name
    registered twice is a programming error, refused (timm warns; a silent overwrite hides a family)."""
    def decorator(constructor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        for name in map(str, names):
            if name in _REGISTRY:
                raise ValueError(f"model name {name!r} is registered twice")
            _REGISTRY[name] = constructor if len(names) == 1 else _bind(constructor, name)
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
    _REGISTRY[name] = constructor
    try:
        yield
    finally:
        del _REGISTRY[name]


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
    except (TypeError, KeyError, ValueError, RuntimeError, AttributeError) as err:  # what smp, timm and MONAI raise
        message = str(err).strip("'\"").splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"model {name!r} rejects its options: {message[:160]}") from None

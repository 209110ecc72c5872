"""The private registry behind `models.build`: one `Family` per model name, as timm keeps a config per model."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch.nn as nn
from pydantic import ConfigDict, TypeAdapter, ValidationError

from errors import UserError


@dataclass(frozen=True)
class Family:
    """Everything the project knows of one model name: its constructor, the trainer that trains it, the
    predictor it needs (None: by `model.inference`), the config keys only it reads, and the keys it refuses
    with the reason. Nothing outside the family's own module compares a model name."""

    build: Callable[..., nn.Module]
    trainer: Literal["segzoo", "ultralytics"] = "segzoo"
    # a Predictor class: (model, image_size, device, precision), with a static grid_for(shape, image_size)
    predictor: type | None = None
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
            _REGISTRY[name] = Family(constructor if len(names) == 1 else partial(constructor, name), **descriptor)
        return constructor
    return decorator


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
    """Every registered model name, sorted."""
    return sorted(_REGISTRY)


def families() -> dict[str, Family]:
    """Every registered family by name."""
    return dict(_REGISTRY)


def family(name: str) -> Family:
    """The family registered as `name`, or one line listing the names there are."""
    if name not in _REGISTRY:
        raise UserError(f"model.name: unknown model {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name]


def build(name: str, **kwargs) -> nn.Module:
    """Build a registered model with random or pretrained weights; its options are checked first (one line
    naming the option), so an error raised while constructing is a bug and surfaces as one."""
    described = family(name)
    return described.build(**check_options(described.build, kwargs, f"model {name!r}"))


@contextmanager
def library_checks(owner: str) -> Iterator[None]:
    """A library constructor's own checks of option values (ValueError, e.g. smp's depth against its decoder
    channels, MONAI's feature_size) as one line naming `owner`; any other exception stays a bug."""
    try:
        yield
    except ValueError as err:
        raise UserError(f"{owner}: {str(err).strip()[:200]}") from None


def check_options(constructor: Callable, options: Mapping[str, Any], owner: str, set_by_caller: tuple[str, ...] = (),
                  forwarded: bool = True) -> dict[str, Any]:
    """`options` validated: each a keyword `constructor` takes, other than those the caller sets (another key
    only when it takes `**kwargs` and `forwarded`: the constructor checks those), and of the type its
    annotation names (YAML's `"3"` for an int becomes 3); UserError naming the option otherwise."""
    parameters = _signature(constructor).parameters
    keywords = {name: p for name, p in parameters.items() if name != "self" and name not in set_by_caller
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    forwards = forwarded and any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    validated = dict(options)
    for key, value in options.items():
        if key not in keywords:
            if forwards:
                continue
            raise UserError(f"{key}: {owner} has no option {key!r}; it takes {', '.join(keywords) or 'none'}")
        annotation = keywords[key].annotation
        if annotation is inspect.Parameter.empty or isinstance(annotation, str):
            continue  # unannotated, or a name the module only imports for type checkers
        try:
            validated[key] = TypeAdapter(annotation, config=_ANY_CLASS).validate_python(value)
        except ValidationError as err:
            raise UserError(f"{key}: {owner} expects {_type_name(annotation)}: {err.errors()[0]['msg']}") from None
    return validated


_ANY_CLASS = ConfigDict(arbitrary_types_allowed=True)  # an annotation naming any class: an isinstance check


def _signature(constructor: Callable) -> inspect.Signature:
    try:
        return inspect.signature(constructor, eval_str=True)
    except NameError:  # an annotation under `if TYPE_CHECKING:`
        return inspect.signature(constructor)


def _type_name(annotation: object) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")

"""The model zoo: `build(name, **kwargs)` over a registry the family modules fill."""
from __future__ import annotations

import torch.nn as nn

from configs.schema import MemberConfig, ModelConfig
from errors import UserError
from models import effisegnet, smp_models, swinunetr, yolo  # noqa: F401  (each registers its names)
from models.pretrained import load_weights
from models.registry import available, build, families, family

__all__ = ["available", "build", "build_model", "check_family_keys", "family"]


def check_family_keys(config: MemberConfig) -> None:
    """Before any work: no key another family owns is set, and no key this family refuses."""
    name = config.model.name
    own = family(name)
    for key, why in own.refuses.items():
        if changed(config, key):
            raise UserError(f"{key}: {why}")
    for owner, other in families().items():
        foreign = next((key for key in other.own_keys if key not in own.own_keys and setting(config, key)), None)
        if foreign is not None:
            raise UserError(f"{foreign}: a {owner} key; {name} does not read it")


def changed(config: MemberConfig, key: str) -> bool:
    """Whether the config sets `key` to anything but the schema's default."""
    *path, name = key.split(".")
    section = config
    for part in path:
        section = getattr(section, part)
    return getattr(section, name) != type(section).model_fields[name].get_default(call_default_factory=True)


def setting(config: MemberConfig, key: str) -> object:
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value if value not in ({}, ()) else None


def build_model(config: ModelConfig, num_classes: int, with_pretrained: bool = True) -> nn.Module:
    """A member's network from its config; pretrained hub weights or a local weights file when asked."""
    family(config.name)
    for key in ("num_classes", "pretrained"):
        if key in config.params:
            raise UserError(f"model.params.{key}: set from the task and `model.pretrained`, not in params")
    try:
        model = build(config.name, num_classes=num_classes, pretrained=config.pretrained and with_pretrained,
                      **config.params)
    except UserError as err:
        raise UserError(f"model.params: {err}") from None
    if config.weights is not None and with_pretrained:
        load_weights(model, config.weights, config.trust_pickle)
    return model

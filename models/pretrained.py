"""Pretrained weights: library hubs for users online, `weights: /path/file` offline."""
from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file

from errors import UserError


@contextmanager
def hub_download_guard(what: str) -> Iterator[None]:
    """Turn a failed weight download into one line saying how to pre-fetch."""
    try:
        yield
    except (OSError, RuntimeError, ConnectionError) as err:
        if "download" in str(err).lower() or "connect" in str(err).lower() or "url" in str(err).lower():
            raise UserError(f"cannot download pretrained weights for {what} (offline?): pre-fetch them on a "
                            f"connected machine into the torch hub cache (~/.cache/torch) or set "
                            f"model.weights") from None
        raise


def read_state_dict(path: Path, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file or a tensors-only torch file; a pickled checkpoint (an ultralytics
    `.pt`) only with `trust_pickle`, since unpickling runs code from the file."""
    if not path.is_file():
        raise UserError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not trust_pickle:
            raise UserError(f"weights {path} is a pickled checkpoint, which can run code when loaded: convert it "
                            f"to safetensors, or set model.trust_pickle: true if you trust its source") from None
        state = trusted_pickle(path)
    except Exception as err:  # noqa: BLE001 - any parse failure is the file's fault
        raise UserError(f"cannot read weights {path}: {type(err).__name__}") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"weights {path} hold no state dict (a mapping of names to tensors) but a "
                        f"{type(state).__name__}")
    return state


def trusted_pickle(path: Path) -> dict[str, torch.Tensor]:
    """The float tensors of a pickled checkpoint: an ultralytics one keeps its network under `ema` or `model`."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001
        raise UserError(f"cannot read weights {path}: {type(err).__name__}") from None
    network = next((checkpoint.get(k) for k in ("ema", "model") if isinstance(checkpoint, dict)
                    and isinstance(checkpoint.get(k), nn.Module)), None)
    return network.float().state_dict() if network is not None else checkpoint


def timm_modules(model: nn.Module) -> list[nn.Module]:
    """The timm backbones inside a network (an smp `tu-` encoder, effisegnet-timm): modules with timm's config."""
    return [module for module in model.modules()
            if isinstance(getattr(module, "pretrained_cfg", None), dict) and "architecture" in module.pretrained_cfg]


def timm_backbones(model: nn.Module) -> list[str]:
    """The timm architecture names of those backbones."""
    return [module.pretrained_cfg["architecture"] for module in timm_modules(model)]


def update_with_file(digest, path: Path):
    """Feed a file's bytes to a hashlib digest in 16 MB blocks; return the digest."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    return digest


def _fits(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], keys) -> bool:
    return all(k in own and k in state and own[k].shape == state[k].shape for k in keys)


def load_weights(model: nn.Module, path: Path, trust_pickle: bool = False) -> None:
    """Load a whole-model or encoder state dict (all of its tensors), or a timm backbone's full state
    dict (from `import-weights`; its classifier, which the features-only backbone lacks, is left out);
    refuse one for another architecture."""
    state = read_state_dict(path, trust_pickle)
    encoder = getattr(model, "encoder", None)
    backbones = timm_modules(model)
    for target in [model, *([encoder] if isinstance(encoder, nn.Module) else [])]:
        own = target.state_dict()
        if state and _fits(own, state, state):
            target.load_state_dict(state, strict=False)
            return
    for target in backbones:
        own = target.state_dict()
        if _fits(own, state, own):
            target.load_state_dict({k: state[k] for k in own})
            return
    raise UserError(f"weights {path} do not fit this architecture (keys or shapes differ)")

"""Pretrained weights: library hubs for users online, `weights: /path/file` offline."""
from __future__ import annotations

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
                            f"connected machine into the torch hub cache (~/.cache/torch) or set model.weights") from None
        raise


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file or a tensors-only torch file (never an arbitrary pickle)."""
    if not path.is_file():
        raise UserError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any parse failure is the file's fault
        raise UserError(f"cannot read weights {path}: {type(err).__name__}") from None
    return state.get("state_dict", state) if isinstance(state, dict) else state


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a whole-model or encoder-only state dict; refuse one for another architecture."""
    state = read_state_dict(path)
    for target in (model, getattr(model, "encoder", None)):
        if target is None:
            continue
        own = target.state_dict()
        if state.keys() <= own.keys() and all(own[k].shape == v.shape for k, v in state.items()):
            target.load_state_dict(state, strict=False)
            return
    raise UserError(f"weights {path} do not fit this architecture (keys or shapes differ)")

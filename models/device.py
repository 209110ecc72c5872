"""Device choice and mixed precision, shared by training and prediction."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from errors import UserError


def pick_device(name: str = "auto", key: str = "train.device") -> torch.device:
    """'auto' -> CUDA when available, else CPU; a device this machine lacks is an error naming `key`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"{key}: unknown device {name!r} (auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"{key}: {name} asked for, but this machine has no CUDA device (use auto or cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"{key}: {name} asked for, but this machine has {torch.cuda.device_count()} CUDA devices")
    return device


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager:
    """Mixed precision on CUDA when enabled; a no-op elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return nullcontext()

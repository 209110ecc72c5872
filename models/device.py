"""Device choice and mixed precision, shared by training and prediction."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from errors import UserError
from names import AmpDtype


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


def cpu_has_bfloat16() -> bool:
    """AVX512-BF16 or AMX: oneDNN runs bfloat16 convolutions natively."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def amp_dtype(device: torch.device, enabled: bool, requested: str = AmpDtype.AUTO,
              key: str = "train.amp_dtype") -> torch.dtype | None:
    """The autocast dtype for this device, or None for float32; an impossible request is one line naming `key`."""
    if not enabled:
        return None
    if requested == AmpDtype.FLOAT16:
        if device.type != "cuda":
            raise UserError(f"{key}: float16 autocast needs a CUDA device; on the CPU use bfloat16 or auto")
        return torch.float16
    if requested == AmpDtype.BFLOAT16:
        if device.type == "cpu" and not cpu_has_bfloat16():
            raise UserError(f"{key}: bfloat16 asked for, but this CPU has no bfloat16 support (AVX512-BF16 or AMX)")
        return torch.bfloat16
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_bfloat16() else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """Mixed precision in `dtype` on the device's autocast; a no-op for float32 (None)."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)

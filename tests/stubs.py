"""Stub models with known outputs (registered by conftest for the test session only), and run folders made from them."""
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from configs.files import RunState
from configs.schema import MemberConfig
from data.augment import IMAGENET_MEAN, IMAGENET_STD
from models.run_folder import RunFolder


class FixedLogits(nn.Module):
    """Ignores its input; returns the same (C, S, S) logits for every image."""

    def __init__(self, num_classes: int = 1, size: int = 8, seed: int = 0, symmetric: bool = False,
                 pretrained: bool = False):
        super().__init__()
        rng = np.random.default_rng(seed)
        logits = torch.from_numpy(rng.normal(0, 2, (num_classes, size, size)).astype(np.float32))
        if symmetric:
            logits = (logits + logits.flip(-1)) / 2
        self.register_buffer("logits", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), *self.logits.shape)


class LocalConv(nn.Module):
    """A fixed, seeded k x k convolution with zero padding: a local, left-right asymmetric function."""

    def __init__(self, num_classes: int = 1, kernel: int = 3, seed: int = 0, pretrained: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(3, num_classes, kernel, padding=kernel // 2)
        weight, bias = conv_parameters(num_classes, kernel, seed)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(weight))
            self.conv.bias.copy_(torch.from_numpy(bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def conv_parameters(num_classes: int, kernel: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 0.4, (num_classes, 3, kernel, kernel)).astype(np.float32)
    weight[..., 0] -= 1.5  # a horizontal gradient: strongly left-right asymmetric
    weight[..., -1] += 1.5
    return weight, rng.normal(0, 0.3, num_classes).astype(np.float32)


def local_conv_probs(image: np.ndarray, num_classes: int = 1, kernel: int = 3, seed: int = 0) -> np.ndarray:
    """What LocalConv predicts for an HxWx3 uint8 image, computed in NumPy: CxHxW sigmoid probabilities."""
    weight, bias = conv_parameters(num_classes, kernel, seed)
    x = (image.astype(np.float64) / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    pad = kernel // 2
    padded = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    height, width = image.shape[:2]
    logits = np.tile(bias.astype(np.float64)[:, None, None], (1, height, width))
    for dy in range(kernel):
        for dx in range(kernel):
            window = padded[dy:dy + height, dx:dx + width]  # HxWx3
            logits += np.einsum("hwi,ci->chw", window, weight[:, :, dy, dx])
    return 1 / (1 + np.exp(-logits))


STUB_MODELS = {"stub-fixed": FixedLogits, "stub-conv": LocalConv}  # registered by conftest for the session


def make_run(path: Path, task: str, classes: tuple[str, ...], model: nn.Module, name: str, params: dict,
             image_size: int, **model_keys) -> RunFolder:
    """A run folder holding only model.safetensors + state.json, as train-fold leaves them."""
    config = MemberConfig.model_validate({
        "task": task, "data": {"root": "unused", "splits": "unused", "image_size": image_size},
        "model": {"name": name, "params": params, **model_keys},
        "train": {"epochs": 1}, "run": {"dir": str(path.parent)}})
    run = RunFolder(path)
    run.save_weights(model)
    run.write_state(RunState(config=config, classes=list(classes)))
    return run


def make_stub_run(path: Path, task: str, classes: tuple[str, ...], size: int, seed: int,
                  symmetric: bool = False) -> FixedLogits:
    """A run folder of a FixedLogits member whose grid is size x size."""
    model = FixedLogits(len(classes), size, seed, symmetric)
    make_run(path, task, classes, model, "stub-fixed", {"size": size, "seed": seed, "symmetric": symmetric}, size)
    return model


def make_conv_run(path: Path, task: str, classes: tuple[str, ...], image_size: int, seed: int, kernel: int = 3,
                  **model_keys) -> LocalConv:
    """A run folder of a LocalConv member (model keys such as inference= and overlap= go to its config)."""
    model = LocalConv(len(classes), kernel, seed)
    make_run(path, task, classes, model, "stub-conv", {"kernel": kernel, "seed": seed}, image_size, **model_keys)
    return model

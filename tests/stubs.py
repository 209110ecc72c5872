"""A stub model with fixed logits, registered for tests only, and run folders made from it."""
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

import models
from configs.schema import MemberConfig
from folds.artifacts import RunFolder


class FixedLogits(nn.Module):
    """Ignores its input; returns the same (C, S, S) logits for every image."""

    def __init__(self, num_classes: int = 1, size: int = 8, seed: int = 0, symmetric: bool = False,
                 pretrained: bool = False):
        super().__init__()
        logits = torch.from_numpy(np.random.default_rng(seed).normal(0, 2, (num_classes, size, size)).astype(np.float32))
        if symmetric:
            logits = (logits + logits.flip(-1)) / 2
        self.register_buffer("logits", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), *self.logits.shape)


models.register("stub-fixed")(FixedLogits)


def make_stub_run(path: Path, task: str, classes: tuple[str, ...], size: int, seed: int,
                  symmetric: bool = False) -> FixedLogits:
    """A run folder holding only model.safetensors + state.json, as train-fold leaves them."""
    config = MemberConfig.model_validate({
        "task": task, "data": {"root": "unused", "splits": "unused", "image_size": size},
        "model": {"name": "stub-fixed", "params": {"size": size, "seed": seed, "symmetric": symmetric}},
        "train": {"epochs": 1}, "run": {"dir": str(path.parent)}})
    model = FixedLogits(len(classes), size, seed, symmetric)
    run = RunFolder(path)
    run.save_weights(model)
    run.write_state({"config": config.model_dump(mode="json"), "classes": list(classes), "val_cases": []})
    return model

"""channels_last on this machine: EffiSegNet-B0 training steps (224 px, batch 8, DiceCE, AdamW) in
channels_last against the default contiguous layout, interleaved rounds, same weights and batch.

    python bench/channels_last.py
"""
from __future__ import annotations

import time

import common  # noqa: F401  (puts the project on sys.path)
import numpy as np
import torch

import models
from models.losses import CombinedLoss

SIZE, BATCH, THREADS, STEPS, ROUNDS = 224, 8, 2, 4, 3


def seconds_per_step(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor,
                     layout: torch.memory_format) -> float:
    model = model.to(memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn, x = CombinedLoss({"dice_ce": 1.0}, 1), images.contiguous(memory_format=layout)
    start = time.perf_counter()
    for _ in range(STEPS):
        loss = loss_fn(model(x), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / STEPS


def main() -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = models.build("effisegnet-b0").train()
    images = torch.randn(BATCH, 3, SIZE, SIZE)
    masks = (torch.rand(BATCH, 1, SIZE, SIZE) > 0.7).float()
    seconds_per_step(model, images, masks, torch.contiguous_format)  # warm-up, both layouts
    seconds_per_step(model, images, masks, torch.channels_last)
    rounds = [(seconds_per_step(model, images, masks, torch.contiguous_format),
               seconds_per_step(model, images, masks, torch.channels_last)) for _ in range(ROUNDS)]
    for i, (plain, last) in enumerate(rounds, 1):
        print(f"  round {i}: contiguous {BATCH / plain:.2f} images/s, channels_last {BATCH / last:.2f} images/s")
    print(f"EffiSegNet-B0 training, {SIZE} px, batch {BATCH}, {THREADS} threads: channels_last / contiguous "
          f"{np.median([plain / last for plain, last in rounds]):.2f}x (median of {ROUNDS} interleaved rounds)")


if __name__ == "__main__":
    main()

"""float32 against bfloat16 autocast on this CPU: images/s of training steps and of prediction.

For each member config (EffiSegNet-B0, both Lite0 recipes, SwinUNETR's sliding windows) the network is
built as train-fold builds it (`build_model`, the config's memory format), and timed two ways in
interleaved rounds (float32, bfloat16, float32, ...; the order flips every round) after a warm-up:
- train: train-fold's step (autocast forward, float32 CombinedLoss, backward, the config's optimiser),
  a fixed batch of the config's size at its image size;
- predict: the member's own predictor (`build_predictor`, as `ensemble` uses it) over a batch of
  images (resize members: 8 Kvasir-sized 576x720 images; SwinUNETR: one 512x512 image in 128-px windows).
Prints images/s both ways per round and the median ratio. `--compile` adds torch.compile rounds.

    python bench/cpu_precision.py                      # all three members, 5 rounds
    python bench/cpu_precision.py --members lite0_unet --rounds 3
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import common  # noqa: F401  (puts the project on sys.path)
import numpy as np
import torch

from configs.load import load_config
from configs.schema import MemberConfig
from data.augment import normalize
from folds.optim import build_optimizer
from models import build_model
from models.device import autocast
from models.losses import CombinedLoss
from models.predictors import build_predictor

MEMBERS = {
    "effisegnet_b0": ("configs/kvasir/effisegnet_b0.yaml", []),
    "lite0_unet": ("configs/kvasir/lite0_unet.yaml", []),
    "lite0_effisegnet": ("configs/kvasir/lite0_effisegnet.yaml", []),
    "swinunetr": ("configs/handbone/swinunetr_crops.yaml", ["model.params.use_checkpoint=false",
                                                            "data.image_size=128", "model.params.feature_size=24"]),
}
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


def member_config(name: str) -> MemberConfig:
    path, overrides = MEMBERS[name]
    return load_config(path, MemberConfig, ["model.pretrained=false", "model.weights=null", *overrides])


def train_step(config: MemberConfig, compiled: bool) -> tuple[Callable[[torch.dtype | None], None], int]:
    """One train-fold step on a fixed batch, in a given autocast dtype; returns (step, images per step)."""
    torch.manual_seed(0)
    fmt = torch.channels_last if config.train.channels_last else torch.contiguous_format
    model = build_model(config.model, 1, with_pretrained=False).to(memory_format=fmt).train()
    network = torch.compile(model) if compiled else model
    loss_fn = CombinedLoss(config.train.loss, 1)
    optimizer = build_optimizer(model.parameters(), config.optim)
    size, batch = config.data.image_size, config.train.batch_size
    x = normalize(torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)).contiguous(memory_format=fmt)
    y = (torch.rand(batch, 1, size, size) > 0.7).float()

    def step(dtype: torch.dtype | None) -> None:
        with autocast(torch.device("cpu"), dtype):
            logits = network(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step, batch


def predict_call(config: MemberConfig, compiled: bool) -> tuple[Callable[[torch.dtype | None], None], int]:
    """The member's predictor over a batch of test-sized images; returns (call, images per call)."""
    torch.manual_seed(0)
    fmt = torch.channels_last if config.train.channels_last else torch.contiguous_format
    model = build_model(config.model, 1, with_pretrained=False).to(memory_format=fmt).eval()
    network = torch.compile(model) if compiled else model
    windows = config.data.sampling == "crops"
    rng = np.random.default_rng(0)
    shape = (512, 512, 3) if windows else (576, 720, 3)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(1 if windows else 8)]
    predictors = {name: build_predictor(config, network, torch.device("cpu"), precision=dtype)
                  for name, dtype in PRECISIONS.items()}
    by_dtype = {dtype: predictors[name] for name, dtype in PRECISIONS.items()}

    def call(dtype: torch.dtype | None) -> None:
        by_dtype[dtype].predict_batch(images)

    return call, len(images)


def images_per_second(fn: Callable[[torch.dtype | None], None], dtype: torch.dtype | None, images: int,
                      repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn(dtype)
    return images * repeats / (time.perf_counter() - start)


def compare(label: str, fn: Callable, images: int, rounds: int, repeats: int) -> float:
    """Interleaved rounds after one warm-up call per precision (its seconds printed: with --compile, the
    compile time); prints each round, returns the median ratio."""
    for name, dtype in PRECISIONS.items():
        started = time.perf_counter()
        fn(dtype)
        print(f"  {label} warm-up {name}: {time.perf_counter() - started:.1f} s", flush=True)
    ratios = []
    for index in range(rounds):
        order = list(PRECISIONS.items()) if index % 2 == 0 else list(PRECISIONS.items())[::-1]
        speed = {name: images_per_second(fn, dtype, images, repeats) for name, dtype in order}
        ratios.append(speed["bfloat16"] / speed["float32"])
        print(f"  {label} round {index + 1}: float32 {speed['float32']:.2f} img/s, bfloat16 {speed['bfloat16']:.2f} "
              f"img/s, ratio {ratios[-1]:.2f}", flush=True)
    median = statistics.median(ratios)
    print(f"{label}: median bfloat16/float32 ratio {median:.2f}x", flush=True)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", nargs="+", choices=list(MEMBERS), default=list(MEMBERS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="steps (or prediction calls) per timing")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="time torch.compile'd networks instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    summary = []
    for name in args.members:
        config = member_config(name)
        for what, build in (("train", train_step), ("predict", predict_call)):
            fn, images = build(config, args.compile)
            label = f"{name} {what}{' compiled' if args.compile else ''}"
            summary.append((label, compare(label, fn, images, args.rounds, args.repeats)))
    print("\nmedian bfloat16/float32 images/s ratio")
    for label, ratio in summary:
        print(f"  {label:32s} {ratio:.2f}x")


if __name__ == "__main__":
    main()

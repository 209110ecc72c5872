"""Ensemble inference throughput on 1024x1024 images: batched and prefetched vs one image at a time.

Three members with random weights (nothing is downloaded): EffiSegNet-B0 and UNet++ (resnet18),
both resizing to 256 px, and a UNet++ predicting 512-px sliding windows. Both sides run
`run_ensemble` from a config; the baseline re-implements the old behaviour through it
(`batch_size: 1`, one window per forward), ours uses `batch_size` images per forward, a
background thread decoding the next batch, and `sw_batch_size` windows per forward. Prints
images/s (best of 2 after a warm-up), the ratio, and whether the two CSVs are identical.
Runs unchanged on a GPU (device auto).

Usage: python bench/ensemble_throughput.py [--images 8] [--batch 4] [--threads 2]"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs.files import RunState  # noqa: E402
from configs.load import validate_config  # noqa: E402
from configs.schema import EnsembleConfig, MemberConfig
from data.handbone import CLASSES  # noqa: E402
from data.synthetic import make_handbone  # noqa: E402
from ensemble.run import run_ensemble  # noqa: E402
from models import build_model  # noqa: E402
from models.run_folder import RunFolder  # noqa: E402

MEMBERS = {
    "effisegnet_b0": {"name": "effisegnet-b0", "params": {"ch": 32}, "image_size": 256},
    "unetpp": {"name": "unetplusplus", "params": {"encoder_name": "resnet18"}, "image_size": 256},
    "unetpp_window": {"name": "unetplusplus", "params": {"encoder_name": "resnet18"}, "image_size": 512,
                      "inference": "sliding_window", "overlap": 0.25},
}


def make_member(folder: Path, spec: dict, sw_batch_size: int) -> None:
    """A run folder with random weights, as train-fold would leave it."""
    model_keys = {k: v for k, v in spec.items() if k != "image_size"}
    config = MemberConfig.model_validate({
        "task": "handbone", "data": {"root": "unused", "splits": "unused", "image_size": spec["image_size"]},
        "model": {**model_keys, "sw_batch_size": sw_batch_size}, "train": {"epochs": 1},
        "run": {"dir": str(folder.parent)}})
    torch.manual_seed(0)
    run = RunFolder(folder)
    run.save_weights(build_model(config.model, len(CLASSES), with_pretrained=False))
    run.write_state(RunState(config=config, classes=list(CLASSES)))


def timed_run(work: Path, side: str, batch_size: int, data: Path) -> tuple[float, bytes]:
    config = validate_config({"task": "handbone", "members": [str(work / side / name / "fold0") for name in MEMBERS],
                              "data": {"root": str(data)}, "output": {"csv": str(work / f"{side}.csv")},
                              "batch_size": batch_size}, EnsembleConfig, "bench")
    run_ensemble(config, quiet=True)  # warm-up
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        run_ensemble(config, quiet=True)
        best = min(best, time.perf_counter() - started)
    return best, (work / f"{side}.csv").read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--sw-batch", type=int, default=1, help="windows per forward on our side (4+ on a GPU)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = make_handbone(work / "data", patients=0, test_patients=args.images // 2, size=1024, seed=0)
        for side, sw_batch in (("baseline", 1), ("ours", args.sw_batch)):
            for name, spec in MEMBERS.items():
                make_member(work / side / name / "fold0", spec, sw_batch)
        base_seconds, base_csv = timed_run(work, "baseline", 1, data)
        our_seconds, our_csv = timed_run(work, "ours", args.batch, data)
    images = 2 * (args.images // 2)
    print(f"{images} images of 1024x1024, members: {', '.join(MEMBERS)}; {args.threads} threads, "
          f"device {'cuda' if torch.cuda.is_available() else 'cpu'}")
    print(f"baseline (one image at a time, 1 window per forward): {images / base_seconds:.3f} images/s")
    print(f"ours (batch {args.batch}, prefetch, sw_batch_size {args.sw_batch}):        "
          f"{images / our_seconds:.3f} images/s")
    print(f"ratio: {base_seconds / our_seconds:.2f}x   identical CSVs: {base_csv == our_csv}")


if __name__ == "__main__":
    main()

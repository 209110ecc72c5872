"""Sliding-window inference speed at 1024x1024: images/s for overlaps 0.25 and 0.5.

Ours: the member predictor built from a config (`model.inference: sliding_window`, gaussian blending,
`sw_batch_size` windows per forward). Baseline, re-implemented here: MONAI's sliding window with one
window per forward (sw_batch_size=1), the same model and blending. Prints images/s of both, the
ratio, and the largest probability difference (the two must agree).

Usage: python bench/sliding_window.py [--config configs/handbone/tiny_swinunetr.yaml] [--size 1024]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import median_seconds  # noqa: E402

from configs.load import load_config  # noqa: E402
from configs.schema import MemberConfig
from data import get_task  # noqa: E402
from data.synthetic import make_handbone  # noqa: E402
from models import build_model  # noqa: E402
from models.predictors import build_predictor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config",
                        default=str(Path(__file__).resolve().parents[1] / "configs/handbone/tiny_swinunetr.yaml"))
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        root = make_handbone(tmp, patients=1, test_patients=0, size=args.size, seed=0)
        task = get_task("handbone", root)
        image = task.read_image(task.labelled_cases()[0])
    base = load_config(args.config, MemberConfig)
    model = build_model(base.model, 29, with_pretrained=False)
    print(f"{base.model.name} {base.model.params}, window {base.data.image_size}, image {args.size}x{args.size}, "
          f"{args.threads} threads, {torch.get_num_threads()} used")
    for overlap in (0.25, 0.5):
        results = {}
        for label, sw_batch in (("baseline", 1), ("ours", base.model.sw_batch_size)):
            config = base.model_copy(update={"model": base.model.model_copy(update={"overlap": overlap,
                                                                                    "sw_batch_size": sw_batch})})
            predictor = build_predictor(config, model, torch.device("cpu"))
            seconds = median_seconds(lambda: predictor.predict(image), repeats=3)
            results[label] = (seconds, predictor.predict(image))
        (t_base, p_base), (t_ours, p_ours) = results["baseline"], results["ours"]
        print(f"overlap {overlap}: baseline (1 window per forward) {1 / t_base:.3f} images/s, "
              f"ours (sw_batch_size {base.model.sw_batch_size}) {1 / t_ours:.3f} images/s, "
              f"ratio {t_base / t_ours:.2f}x, max |diff| {np.abs(p_base - p_ours).max():.1e}")


if __name__ == "__main__":
    main()

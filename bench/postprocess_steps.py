"""The clean-up steps on the hand-bone workload (29 classes x 2048 x 2048 masks of blobs with holes and specks):
ours (OpenCV connected components) against MONAI's own transforms on the same masks, same results required.

MONAI's `FillHoles` runs on SciPy (a dependency here); its `KeepLargestConnectedComponent` and
`RemoveSmallObjects` need scikit-image, which this project does not install: the bench says so instead of
timing them. Prints seconds per 29-class image (median of 3 after a warm-up) and the ratio.

    python bench/postprocess_steps.py
"""
from __future__ import annotations

import importlib.util

import numpy as np
import torch
from common import median_seconds, smooth_field

from configs.schema import PostProcess
from ensemble.postprocess import apply_postprocess
from names import PostStep

CLASSES, SIDE = 29, 2048


def masks() -> np.ndarray:
    """Smooth blobs with 5 x 5 holes punched deep inside them and 3 x 3 specks scattered outside, 40 of each
    per class."""
    rng = np.random.default_rng(0)
    field = smooth_field(rng, CLASSES, SIDE // 4, 16)
    field = np.repeat(np.repeat(field, 4, axis=1), 4, axis=2)
    planes = field > 0.3
    for plane, values in zip(planes, field):
        for level, size, value in ((values > 1.2, 5, False), (values < -0.5, 3, True)):
            rows, cols = np.nonzero(level[::8, ::8])
            for i in rng.choice(len(rows), size=min(40, len(rows)), replace=False):
                plane[rows[i] * 8:rows[i] * 8 + size, cols[i] * 8:cols[i] * 8 + size] = value
    return planes


def ours(step: PostStep, planes: np.ndarray) -> np.ndarray:
    return np.stack([apply_postprocess(plane, plane, PostProcess(step=step)) for plane in planes])  # reads no probs


def monai_fill_holes(planes: np.ndarray) -> np.ndarray:
    """One class at a time (on a several-channel input MONAI reads the channels as one-hot labels of one
    exclusive segmentation, which overlapping hand-bone classes are not), on a copy (it fills in place)."""
    from monai.transforms import FillHoles

    fill = FillHoles(connectivity=1)
    return np.stack([fill(torch.from_numpy(plane[None].copy()))[0].numpy().astype(bool) for plane in planes])


def main() -> None:
    planes = masks()
    print(f"{CLASSES} x {SIDE} x {SIDE} masks, {planes.mean():.1%} foreground")
    ours_fill = ours(PostStep.FILL_HOLES, planes)
    theirs_fill = monai_fill_holes(planes)
    assert ours_fill.sum() > planes.sum(), "the workload has no holes"
    same = np.array_equal(ours_fill, theirs_fill)
    fast = median_seconds(lambda: ours(PostStep.FILL_HOLES, planes))
    slow = median_seconds(lambda: monai_fill_holes(planes))
    print(f"fill_holes: ours {fast:.2f} s, MONAI FillHoles {slow:.2f} s per image ({slow / fast:.1f}x); "
          f"identical masks: {same}")
    largest = median_seconds(lambda: ours(PostStep.LARGEST, planes))
    print(f"largest: ours {largest:.2f} s per image", end="")
    if importlib.util.find_spec("skimage") is None:
        print("; MONAI KeepLargestConnectedComponent and RemoveSmallObjects need scikit-image (not installed)")
    else:
        from monai.transforms import KeepLargestConnectedComponent

        keep = KeepLargestConnectedComponent(is_onehot=True, independent=True, connectivity=2)
        theirs = median_seconds(lambda: keep(torch.from_numpy(planes)))
        print(f"; MONAI KeepLargestConnectedComponent {theirs:.2f} s ({theirs / largest:.1f}x)")


if __name__ == "__main__":
    main()

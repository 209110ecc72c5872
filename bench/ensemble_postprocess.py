"""Ensemble post-processing: 5 members' 29x512x512 logits -> 29x2048x2048 masks -> RLE rows.

Baseline (re-implemented from the public competition baseline): each member's logits upsampled
to full size in float32 with torch, sigmoid, summed, averaged, thresholded, padded-flatten RLE.
Ours: sigmoid on the member grid, members sharing a grid averaged there, one class at a time
resampled (cv2 bilinear), thresholded and encoded with submit.rle.encode.
Each side runs in its own process so peak RSS is its own; prints seconds per image (median of 3
after a warm-up), peak RSS, the speed-up, the memory ratio and the Dice agreement of the masks."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import baseline_encode, median_seconds, peak_rss_mb, smooth_field

MEMBERS, CLASSES, GRID, FULL = 5, 29, 512, 2048


def member_logits() -> list[np.ndarray]:
    """Members that roughly agree: a shared smooth field plus member-specific smooth noise."""
    rng = np.random.default_rng(0)
    shared = smooth_field(rng, CLASSES, GRID, 12) * 2 - 1.5
    return [shared + smooth_field(rng, CLASSES, GRID, 24) * 0.7 for _ in range(MEMBERS)]


def baseline(logits: list[np.ndarray]) -> list[str]:
    import torch
    import torch.nn.functional as F

    total = None
    for member in logits:
        up = F.interpolate(torch.from_numpy(member)[None], size=(FULL, FULL), mode="bilinear", align_corners=False)
        probs = torch.sigmoid(up)
        total = probs if total is None else total + probs
    masks = (total / len(logits) > 0.5)[0].numpy()
    return [baseline_encode(m) for m in masks]


def ours(logits: list[np.ndarray]) -> list[str]:
    from ensemble.vote import grid_means, vote_masks
    from submit.rle import encode

    probs = [1 / (1 + np.exp(-member)) for member in logits]
    grids = grid_means([(p, 1.0) for p in probs])
    return [encode(m) for m in vote_masks(grids, (FULL, FULL), np.full(CLASSES, 0.5, np.float32))]


def run_side(name: str, out: str) -> None:
    """Child process: time one side and record its rows and peak RSS."""
    logits = member_logits()
    method = {"baseline": baseline, "ours": ours}[name]
    seconds = median_seconds(lambda: method(logits))
    Path(out).write_text(json.dumps({"seconds": seconds, "rss_mb": peak_rss_mb(), "rows": method(logits)}))


def main() -> None:
    from submit.rle import decode, encode

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("baseline", "ours"):
            out = str(Path(tmp) / f"{name}.json")
            subprocess.run([sys.executable, __file__, name, out], check=True)
            results[name] = json.loads(Path(out).read_text())
    base, mine = results["baseline"], results["ours"]
    masks_b = [decode(r, (FULL, FULL)) for r in base["rows"]]
    masks_o = [decode(r, (FULL, FULL)) for r in mine["rows"]]
    inter = sum(np.count_nonzero(a & b) for a, b in zip(masks_b, masks_o))
    agreement = 2 * inter / sum(np.count_nonzero(a) + np.count_nonzero(b) for a, b in zip(masks_b, masks_o))
    identical = sum(a == b for a, b in zip(base["rows"], mine["rows"]))
    print(f"{MEMBERS} members x {CLASSES}x{GRID}x{GRID} logits -> {CLASSES}x{FULL}x{FULL} masks -> RLE, per image")
    print(f"baseline: {base['seconds']:.3f} s, peak RSS {base['rss_mb']:.0f} MB")
    print(f"ours:     {mine['seconds']:.3f} s, peak RSS {mine['rss_mb']:.0f} MB")
    print(f"speed-up: {base['seconds'] / mine['seconds']:.1f}x   "
          f"memory: {mine['rss_mb'] / base['rss_mb']:.2f} of baseline")
    print(f"mask agreement (Dice over all classes): {agreement:.5f}   identical RLE rows: {identical}/{CLASSES}")
    runs = np.mean([len(r.split()) // 2 for r in mine["rows"]])
    t_ours = median_seconds(lambda: [encode(m) for m in masks_o]) / CLASSES
    t_base = median_seconds(lambda: [baseline_encode(m) for m in masks_o]) / CLASSES
    same = all(encode(m) == baseline_encode(m) for m in masks_o)
    print(f"RLE encode on these masks ({runs:.0f} runs on average): baseline {t_base * 1e3:.2f} ms, "
          f"ours {t_ours * 1e3:.2f} ms, {t_base / t_ours:.1f}x, identical strings: {same}")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        run_side(sys.argv[1], sys.argv[2])
    else:
        main()

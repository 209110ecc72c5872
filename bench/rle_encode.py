"""RLE encode speed: submit.rle.encode vs the competition baseline encoder, same masks.

Prints ms per 2048x2048 mask (median of 3 after a warm-up), the speed-up and string identity."""
from __future__ import annotations

import numpy as np
from common import baseline_encode, blob_masks, median_seconds

from submit.rle import encode


def main() -> None:
    masks = blob_masks(8)
    runs = np.mean([len(encode(m).split()) // 2 for m in masks])
    identical = all(encode(m) == baseline_encode(m) for m in masks)
    ours = median_seconds(lambda: [encode(m) for m in masks]) / len(masks)
    base = median_seconds(lambda: [baseline_encode(m) for m in masks]) / len(masks)
    print(f"masks: {len(masks)} x 2048x2048, {runs:.0f} runs each on average")
    print(f"baseline encode: {base * 1e3:.2f} ms/mask")
    print(f"ours encode:     {ours * 1e3:.2f} ms/mask")
    print(f"speed-up: {base / ours:.1f}x   identical strings: {identical}")


if __name__ == "__main__":
    main()

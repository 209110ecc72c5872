"""Test-time augmentation for any predictor: the average over a set of flips and quarter turns (the
dihedral group d4 or a subset) and over input scales, each undone on the member's grid before averaging."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from data.resample import resize_plane
from names import TTA

NETWORK_STRIDE = 32  # scaled input sizes stay multiples of it, as `data.image_size` must be


@dataclass(frozen=True)
class View:
    """A left-right mirror (first) then `turns` quarter turns counter-clockwise (np.rot90)."""

    mirror: bool
    turns: int

    def apply(self, image: np.ndarray) -> np.ndarray:
        """HxW(xC) image -> the view the member sees."""
        view = image[:, ::-1] if self.mirror else image
        return np.ascontiguousarray(np.rot90(view, self.turns, axes=(0, 1)))

    def undo(self, probs: np.ndarray) -> np.ndarray:
        """CxHxW probabilities of the view -> those of the original image."""
        back = np.rot90(probs, -self.turns, axes=(1, 2))
        return back[:, :, ::-1] if self.mirror else back


VIEWS = {
    TTA.NONE: (View(False, 0),),
    TTA.HFLIP: (View(False, 0), View(True, 0)),
    TTA.VFLIP: (View(False, 0), View(True, 2)),  # mirror + half turn: upside down
    TTA.FLIPS: (View(False, 0), View(True, 0), View(True, 2), View(False, 2)),
    TTA.D4: tuple(View(mirror, turns) for mirror in (False, True) for turns in range(4)),
}
if set(VIEWS) != set(TTA):  # a TTA name without its views here fails at import, not at prediction time
    raise ImportError(f"models.tta: no views for {sorted(set(TTA) - set(VIEWS))}")


def scaled_size(size: int, scale: float) -> int:
    """A network input size `scale` times `size`, rounded to a multiple of NETWORK_STRIDE."""
    return max(NETWORK_STRIDE, round(size * scale / NETWORK_STRIDE) * NETWORK_STRIDE)


class TestTimeAugmentation:
    """Averages `inner` over views x scales. `at_scale(scale)` gives the inner predictor at that scale (a
    larger input for resize and YOLO members, a resized image for sliding windows); its probabilities are
    resampled onto the inner grid."""

    def __init__(self, inner, views: tuple[View, ...], scales: tuple[float, ...],
                 at_scale: Callable[[float], object]):
        """Average `inner` over `views` and `scales` (`at_scale(s)`: the predictor at scale s)."""
        self.inner, self.views, self.scales, self.at_scale = inner, views, scales, at_scale
        self.precision: torch.dtype | None = inner.precision

    def grid(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The inner predictor's grid."""
        return self.inner.grid(shape)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Only a single-scale set may keep the inner predictor's prepared image: other scales need the original."""
        return self.inner.prepare(image) if self.scales == (1.0,) else image

    def predict_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Probabilities of a batch averaged over every view and scale, each view undone."""
        grids = [tuple(self.grid(image.shape[:2])) for image in images]
        totals = [np.zeros((0,))] * len(images)  # filled by the first view
        pairs = [(view, item) for view in self.views for item in range(len(images))]
        for scale in self.scales:
            predictor = self.inner if scale == 1.0 else self.at_scale(scale)
            probs = predictor.predict_batch([view.apply(images[item]) for view, item in pairs])
            for (view, item), prob in zip(pairs, probs):
                back = view.undo(prob)
                if back.shape[1:] != grids[item]:
                    back = np.stack([resize_plane(np.ascontiguousarray(plane), grids[item]) for plane in back])
                totals[item] = back if totals[item].size == 0 else totals[item] + back
        count = len(self.views) * len(self.scales)
        return [np.ascontiguousarray(total / count, dtype=np.float32) for total in totals]

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Probabilities of one image averaged over every view and scale."""
        return self.predict_batch([image])[0]

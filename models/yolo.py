"""YOLOv8-seg from ultralytics, built offline from its bundled `yolov8{n,s,m,l,x}-seg.yaml`, and the
predictor that turns its instances into per-class probability maps."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import atomic
from errors import UserError
from models.device import autocast
from models.registry import register
from names import ModelFamily

SCALES = ("n", "s", "m", "l", "x")
DEFAULT_SCALE = "n"
PAD_VALUE = 114  # ultralytics' letterbox grey
MIN_CONFIDENCE = 0.001  # keep almost every instance: the vote, not YOLO, decides
NMS_IOU = 0.7  # ultralytics' default for prediction
MAX_INSTANCES = 300


def offline_ultralytics(config_dir: Path | None = None) -> None:
    """Before ultralytics is first imported: no network (YOLO_OFFLINE) and its settings in `config_dir`; imported
    or not, Pillow's own `Image.open` back in place."""
    if "ultralytics" not in sys.modules:
        os.environ["YOLO_OFFLINE"] = "1"
        if config_dir is not None:
            atomic.make_folders(config_dir, whole=True)  # ultralytics writes its settings into it
            os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    restore_pillow_open()


def restore_pillow_open() -> None:
    """ultralytics replaces `PIL.Image.open` for the whole process when imported: on a file Pillow cannot identify,
    its version installs pi-heif from the network (offline: ModuleNotFoundError). Pillow's own is put back, so an
    unreadable image stays one line naming it and nothing downloads (this project reads no HEIF)."""
    from PIL import Image
    from ultralytics.utils import patches

    Image.open = patches._image_open


def scale_of(params: dict) -> str:
    """The YOLOv8 size letter a member's `model.params` asks for."""
    return params.get("scale", DEFAULT_SCALE)


IN_ULTRALYTICS = "yolov8-seg trains in ultralytics"
YOLO_REFUSES = {  # member keys ultralytics' trainer has nothing for (the mapped ones: folds/yolo/arguments.py)
    "train.ema_decay": f"{IN_ULTRALYTICS}, which always keeps its own EMA",
    "train.loss": f"{IN_ULTRALYTICS}, with its own box, class and mask losses",
    "train.swa_start": f"{IN_ULTRALYTICS}, which has no weight averaging but its EMA",
    "train.swa_lr": f"{IN_ULTRALYTICS}, which has no weight averaging but its EMA",
    "train.amp_dtype": f"{IN_ULTRALYTICS}, which picks float16 on CUDA itself",
    "train.channels_last": f"{IN_ULTRALYTICS}, which keeps its own memory format",
    "train.val_every": f"{IN_ULTRALYTICS}, which validates every epoch (model.trainer_args.val: false, at the end)",
    "train.sync_bn": f"{IN_ULTRALYTICS}, which runs without torchrun here",
    "scheduler.step_size": f"{IN_ULTRALYTICS}, whose schedules are cosine and linear",
    "scheduler.gamma": f"{IN_ULTRALYTICS}, whose schedules are cosine and linear",
    "scheduler.patience": f"{IN_ULTRALYTICS}, whose schedules are cosine and linear",
    **{f"augment.{key}": "ultralytics' trainer has no such augmentation" for key in (
        "clahe", "elastic", "black_rectangle", "gamma", "hue_saturation", "rgb_shift", "blur", "jpeg")},
}


def set_box_prior(model: nn.Module, strides: float) -> None:
    """Start every box at `strides` (in the head's stride units) from its anchor on each side: the box
    head's bias decays over the distribution-focal-loss bins so that their expected value is `strides`."""
    head = model.model[-1]
    bins = torch.arange(head.reg_max, dtype=torch.float64)
    low, high = 1e-3, 1e3  # decay length: expected bin rises with it from 0 towards (reg_max - 1) / 2
    for _ in range(100):
        decay = (low * high) ** 0.5
        weights = torch.exp(-bins / decay)
        low, high = (decay, high) if float((bins * weights).sum() / weights.sum()) < strides else (low, decay)
    for box in head.one2many["box_head"]:
        box[-1].bias.data[:] = (-bins / decay).repeat(4).to(box[-1].bias.dtype)


def fitted_shape(shape: tuple[int, int], size: int) -> tuple[int, int]:
    """`shape` scaled so that its longer side is `size`."""
    scale = size / max(shape)
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def fit(image: np.ndarray, size: int) -> np.ndarray:
    """The image scaled so that its longer side is `size` (unchanged when it already is)."""
    h, w = fitted_shape(image.shape[:2], size)
    if (h, w) == image.shape[:2]:
        return image
    shrink = h < image.shape[0]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The fitted image centred on a grey size x size square; returns (square, (top, left, h, w))."""
    fitted = fit(image, size)
    h, w = fitted.shape[:2]
    top, left = (size - h) // 2, (size - w) // 2
    out = np.full((size, size, 3), PAD_VALUE, np.uint8)
    out[top:top + h, left:left + w] = fitted
    return out, (top, left, h, w)


class YoloPredictor:
    """Letterboxed image -> YOLO -> NMS -> per class, the max over its instances of confidence x soft mask
    (sigmoid of the prototype mix, cropped to the box), on a grid of the member's input size with the
    image's aspect. Classes overlap freely: two instances of different classes may both be high."""

    def __init__(self, model: nn.Module, image_size: int, device: torch.device, precision: torch.dtype | None = None):
        """The YOLOv8-seg `model` at `image_size` px on `device`, under autocast to `precision` when given."""
        self.model, self.size, self.device, self.precision = model, image_size, device, precision
        self.num_classes = model.model[-1].nc  # the Segment head

    @staticmethod
    def grid_for(shape: tuple[int, int], size: int) -> tuple[int, int]:
        """The grid an image of `shape` is predicted on at input `size`: fitted into it, aspect kept."""
        return fitted_shape(shape, size)

    def grid(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The grid its probabilities come on: the image fitted into the input size, aspect kept."""
        return self.grid_for(shape, self.size)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The image letterboxed into the input size."""
        return fit(image, self.size)

    @torch.inference_mode()
    def predict_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Per image, per-class probability maps from the instances found (NMS, masks from prototypes)."""
        from ultralytics.utils.nms import non_max_suppression

        boxed = [letterbox(image, self.size) for image in images]
        batch = torch.from_numpy(np.stack([b for b, _ in boxed]).transpose(0, 3, 1, 2)).to(self.device).float() / 255
        self.model.eval()
        with autocast(self.device, self.precision):
            (detections, protos), _ = self.model(batch)
        kept = non_max_suppression(detections.float(), MIN_CONFIDENCE, NMS_IOU, nc=self.num_classes,
                                   max_det=MAX_INSTANCES)
        return [self.class_maps(found, proto.float(), window) for found, proto, (_, window) in zip(kept, protos, boxed)]

    def class_maps(self, found: torch.Tensor, protos: torch.Tensor, window: tuple[int, int, int, int]) -> np.ndarray:
        """Per class, the maximum over its instances of mask probability x confidence, inside the letterbox window."""
        top, left, h, w = window
        maps = torch.zeros(self.num_classes, self.size, self.size, device=protos.device)
        if len(found):
            from ultralytics.utils.ops import crop_mask

            mixed = (found[:, 6:] @ protos.view(len(protos), -1)).view(-1, *protos.shape[1:])
            soft = torch.sigmoid(F.interpolate(mixed[None], (self.size, self.size), mode="bilinear",
                                               align_corners=False)[0])
            scored = crop_mask(soft, found[:, :4]) * found[:, 4, None, None]
            classes = found[:, 5].long()
            for c in classes.unique():
                maps[c] = scored[classes == c].amax(0)
        return maps[:, top:top + h, left:left + w].cpu().numpy()

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Per-class probability maps of one image."""
        return self.predict_batch([image])[0]


@register(ModelFamily.YOLOV8_SEG, trainer="ultralytics", predictor=YoloPredictor,
          own_keys=("model.trainer_args", "model.box_prior"),
          refuses=YOLO_REFUSES)
def yolov8_seg(num_classes: int = 1, scale: str = DEFAULT_SCALE, pretrained: bool = False):
    """An ultralytics YOLOv8-seg network of scale n, s, m, l or x, built from its YAML."""
    if scale not in SCALES:
        raise UserError(f"yolov8-seg scale {scale!r} is not one of {', '.join(SCALES)}")
    if pretrained:
        raise UserError("yolov8-seg: pretrained weights come from ultralytics' hub; use model.weights: /path/file")
    offline_ultralytics()
    from ultralytics.nn.tasks import SegmentationModel

    return SegmentationModel(f"yolov8{scale}-seg.yaml", nc=num_classes, verbose=False)

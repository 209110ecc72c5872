"""YOLOv8-seg from ultralytics, built offline from its bundled `yolov8{n,s,m,l,x}-seg.yaml`.

It returns ultralytics' own SegmentationModel (detections + mask prototypes), which the
torch engine cannot train: the ultralytics trainer adapter and the instance -> per-class map
predictor are not built yet."""
from __future__ import annotations

from errors import UserError
from models import register
from names import ModelFamily

SCALES = ("n", "s", "m", "l", "x")


@register(ModelFamily.YOLOV8_SEG)
def yolov8_seg(num_classes: int = 1, scale: str = "n", pretrained: bool = False):
    from ultralytics.nn.tasks import SegmentationModel

    if scale not in SCALES:
        raise UserError(f"yolov8-seg scale {scale!r} is not one of {', '.join(SCALES)}")
    if pretrained:
        raise UserError("yolov8-seg: pretrained weights come from ultralytics' hub; use model.weights: /path/file")
    return SegmentationModel(f"yolov8{scale}-seg.yaml", nc=num_classes, verbose=False)

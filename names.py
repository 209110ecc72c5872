"""Every list of names that configs, the CLI and the dispatching code share, defined once.

The bottom layer: it imports nothing of the project, so `configs/` can validate against these
names without importing `models/` or `data/`."""
from __future__ import annotations

from enum import StrEnum

ROOT_SEPARATOR = "::"  # '<extra root name>::<case>' names a case of an extra data root (`data.extra_roots`)


class SplitMethod(StrEnum):
    GROUP_KFOLD = "group-kfold"
    KFOLD = "kfold"
    RELEASE = "release"


class LabelFormat(StrEnum):
    """How a task file's labels are stored; each is a reader and a writer registered in `data/formats/`."""

    BINARY_MASK = "binary-mask"  # one mask image per image (a single-class task)
    MASK_PER_CLASS = "mask-per-class"  # a folder per class, one mask image per image in each
    LABEL_MAP = "label-map"  # one PNG per image: 0 background, i >= 1 the i-th class
    POLYGON_JSON = "polygon-json"  # one JSON per image listing labelled polygons
    COCO = "coco"  # one COCO file: polygons and RLE, categories by name
    RLE_CSV = "rle-csv"  # one CSV: image, class, RLE


class RleOrder(StrEnum):
    """How a mask is flattened before run-length encoding."""

    ROW_MAJOR = "row-major"
    COLUMN_MAJOR = "column-major"


class LossTerm(StrEnum):
    BCE = "bce"
    DICE = "dice"
    BCE_DICE = "bce_dice"
    DICE_CE = "dice_ce"
    FOCAL = "focal"
    TVERSKY = "tversky"
    FOCAL_TVERSKY = "focal_tversky"
    NEAR_PIXEL = "near_pixel"


class ModelFamily(StrEnum):
    """Families of the zoo; EffiSegNet registers one name per variant (`effisegnet-b0` ...)."""

    EFFISEGNET = "effisegnet"
    EFFISEGNET_TIMM = "effisegnet-timm"
    SMP = "smp"
    UNETPLUSPLUS = "unetplusplus"
    SWINUNETR = "swinunetr"
    YOLOV8_SEG = "yolov8-seg"


class AmpDtype(StrEnum):
    """Mixed precision: `auto` is float16 on CUDA and bfloat16 on CPUs that have it (else float32)."""

    AUTO = "auto"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"


class Inference(StrEnum):
    RESIZE = "resize"
    SLIDING_WINDOW = "sliding_window"


class PostStep(StrEnum):
    NONE = "none"
    LARGEST = "largest"  # keep the largest connected component
    REMOVE_SMALL = "remove_small"  # remove components below `min_share` of the image's pixels
    FILL_HOLES = "fill_holes"
    NEVER_EMPTY = "never_empty"  # an empty mask becomes the component around its peak probability


class TTA(StrEnum):
    NONE = "none"
    HFLIP = "hflip"
    VFLIP = "vflip"
    FLIPS = "flips"  # none, hflip, vflip and both
    D4 = "d4"  # the 8 mirrors and quarter turns


def choices(names: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values, for argparse choices and messages."""
    return tuple(n.value for n in names)


class OptimizerName(StrEnum):
    ADAM = "adam"
    ADAMW = "adamw"
    SGD = "sgd"
    LION = "lion"


class SchedulerName(StrEnum):
    NONE = "none"
    COSINE = "cosine"
    STEP = "step"
    PLATEAU = "plateau"


class Checkpoint(StrEnum):
    """Which weights a member keeps (and predicts its OOF with): the last epoch's, or the epoch that validated best
    on the fold (then every number tuned on that OOF is optimistic by the choice)."""

    LAST = "last"
    BEST = "best"


class Sampling(StrEnum):
    """How training inputs are cut from an image: resized whole, or random crops at native size."""

    RESIZE = "resize"
    CROPS = "crops"

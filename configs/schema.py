"""Typed configs: YAML + `--set key.sub=value` overrides -> validated pydantic objects."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, field_validator, model_validator

from names import (
    TTA,
    AmpDtype,
    Checkpoint,
    Inference,
    LossTerm,
    OptimizerName,
    PostStep,
    Sampling,
    SchedulerName,
    TaskName,
    choices,
)


class Strict(BaseModel):
    """Every config section: unknown keys refused, and no float may be NaN or infinite."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)


MAX_SIDE = 8192  # pixels: any input, crop, scaled input or OOF grid side a config may ask for
MAX_TTA_SCALE = 4.0
Scale = Annotated[float, Field(gt=0, le=MAX_TTA_SCALE)]
Probability = Annotated[StrictFloat, Field(ge=0, le=1)]  # a number (never a string or a boolean) in [0, 1]
DEFAULT_THRESHOLD = 0.5


class PreprocessStep(Strict):
    """Applied to every image the member sees: training, validation, OOF, ensemble (unlike `augment.clahe`)."""

    name: Literal["clahe"]
    clip_limit: float = Field(2.0, gt=0, le=255)
    tile_grid: int = Field(8, gt=0, le=64)  # tiles per side (OpenCV allocates a histogram per tile)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class DataConfig(Strict):
    """`image_size` is the resize target, or with `sampling: crops` the crop (and sliding window) size."""

    root: Path
    splits: Path
    image_size: int = Field(256, gt=0, le=MAX_SIDE, multiple_of=32)
    sampling: Sampling = Sampling.RESIZE
    crops_per_image: int = Field(4, gt=0, le=10000)
    foreground_share: float = Field(0.5, ge=0, le=1)
    cache: bool = True
    workers: int = Field(0, ge=0, le=256)
    preprocess: list[PreprocessStep] = []  # e.g. [clahe] or [{name: clahe, clip_limit: 2.0, tile_grid: 8}]
    extra_roots: dict[str, Path] = {}  # more roots of the task's layout; splits name their cases '<key>::<case>'


class ModelConfig(Strict):
    name: str
    params: dict[str, Any] = {}
    pretrained: bool = False
    weights: Path | None = None
    inference: Inference = Inference.RESIZE
    overlap: float = Field(0.25, ge=0, lt=1)
    sw_batch_size: int = Field(1, gt=0, le=1024)  # windows per forward: raise it on a GPU (on 2 CPU cores 4 was slower)
    tta: TTA = TTA.NONE
    tta_scales: tuple[Scale, ...] = Field((1.0,), min_length=1, max_length=16)  # input scales averaged with TTA views
    trust_pickle: bool = False  # yolov8-seg: allow `weights:` to be an ultralytics .pt (a pickle: only files you trust)
    trainer_args: dict[str, Any] = {}  # yolov8-seg: further ultralytics training arguments (mosaic, close_mosaic, ...)
    # yolov8-seg from random init: the boxes it starts with, in strides from the anchor to each side (ultralytics
    # starts at 7.5, far larger than small objects at small input sizes, whose assignments then carry no signal)
    box_prior: float | None = Field(None, gt=0, lt=7.5)


class AugmentConfig(Strict):
    """Probabilities (0 disables) and limits of the training augmentations."""

    hflip: float = Field(0.5, ge=0, le=1)
    vflip: float = Field(0.0, ge=0, le=1)
    rotate: float = Field(0.0, ge=0, le=1)
    rotate_limit: float = Field(15.0, ge=0, le=180)
    affine: float = Field(0.0, ge=0, le=1)
    color_jitter: float = Field(0.0, ge=0, le=1)
    clahe: float = Field(0.0, ge=0, le=1)
    elastic: float = Field(0.0, ge=0, le=1)
    black_rectangle: float = Field(0.0, ge=0, le=1)
    # photometric changes another scanner or hospital brings (albumentations' own transforms)
    gamma: float = Field(0.0, ge=0, le=1)  # RandomGamma within gamma_limit (percent)
    hue_saturation: float = Field(0.0, ge=0, le=1)  # HueSaturationValue shifts within +- hsv_limits
    rgb_shift: float = Field(0.0, ge=0, le=1)  # RGBShift: each channel shifted within +- rgb_shift_limit
    blur: float = Field(0.0, ge=0, le=1)  # GaussianBlur, sigma within blur_sigma
    jpeg: float = Field(0.0, ge=0, le=1)  # ImageCompression (JPEG) at a quality within jpeg_quality
    # limits (the official EffiSegNet recipe: scale [0.5, 1.5], translate 0.125, rotate 90, brightness
    # [0.6, 1.6], contrast 0.2, saturation 0.1, hue 0.01, elastic with albumentations' defaults 1 / 50)
    affine_scale: tuple[Annotated[float, Field(gt=0, le=10)], Annotated[float, Field(gt=0, le=10)]] = (0.9, 1.1)
    affine_translate: float = Field(0.05, ge=0, le=1)  # +- share of the side
    affine_rotate: float = Field(10.0, ge=0, le=180)  # +- degrees
    jitter_brightness: tuple[Annotated[float, Field(ge=0, le=10)], Annotated[float, Field(ge=0, le=10)]] = (0.8, 1.2)
    jitter_contrast: float = Field(0.2, ge=0, le=1)
    jitter_saturation: float = Field(0.2, ge=0, le=1)
    jitter_hue: float = Field(0.05, ge=0, le=0.5)
    elastic_alpha: float = Field(30.0, ge=0, le=1000)
    elastic_sigma: float = Field(6.0, gt=0, le=1000)
    gamma_limit: tuple[Annotated[float, Field(gt=0, le=1000)], Annotated[float, Field(gt=0, le=1000)]] = (70, 150)
    hsv_limits: tuple[Annotated[float, Field(ge=0, le=180)], Annotated[float, Field(ge=0, le=255)],
                      Annotated[float, Field(ge=0, le=255)]] = (10, 30, 20)  # hue, saturation, value
    rgb_shift_limit: float = Field(20.0, ge=0, le=255)
    blur_sigma: tuple[Annotated[float, Field(gt=0, le=50)], Annotated[float, Field(gt=0, le=50)]] = (0.3, 2.0)
    jpeg_quality: tuple[Annotated[int, Field(ge=1, le=100)], Annotated[int, Field(ge=1, le=100)]] = (30, 90)

    @model_validator(mode="after")
    def _ranges_ordered(self) -> AugmentConfig:
        for key in ("affine_scale", "jitter_brightness", "gamma_limit", "blur_sigma", "jpeg_quality"):
            low, high = getattr(self, key)
            if low > high:
                raise ValueError(f"{key}: the range [{low}, {high}] runs backwards")
        return self


class OptimConfig(Strict):
    name: OptimizerName = OptimizerName.ADAMW
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)


class SchedulerConfig(Strict):
    name: SchedulerName = SchedulerName.COSINE
    min_lr: float = Field(0.0, ge=0, le=10)
    warmup_epochs: int = Field(0, ge=0, le=100000)
    step_size: int = Field(30, gt=0, le=100000)
    gamma: float = Field(0.1, gt=0, le=1)
    patience: int = Field(5, ge=0, le=100000)


class TrainConfig(Strict):
    epochs: int = Field(gt=0, le=100000)
    batch_size: int = Field(8, gt=0, le=65536)
    accumulate: int = Field(1, gt=0, le=65536)
    val_every: int = Field(1, gt=0, le=100000)
    swa_start: int | None = Field(None, ge=0, le=100000)
    swa_lr: float | None = Field(None, gt=0, le=10)
    # an exponential moving average of the weights, updated every optimiser step; validated, kept as the best
    # checkpoint and used for OOF in place of the raw weights (e.g. 0.999; unset: off)
    ema_decay: float | None = Field(None, gt=0, lt=1)
    device: str = "auto"
    amp: bool = False  # mixed precision (train.amp_dtype); losses and metrics stay float32
    amp_dtype: AmpDtype = AmpDtype.AUTO
    channels_last: bool = False
    sync_bn: bool = False  # under torchrun: BatchNorm statistics synchronised across processes
    threads: int | None = Field(None, ge=1, le=4096)
    seed: int = Field(0, ge=0, lt=2**63)
    # the weights kept and predicting the OOF: `last` (the final epoch's, or the SWA average) or `best` (the epoch
    # with the best validation Dice: the OOF it predicts then took part in choosing it, so it is optimistic)
    checkpoint: Checkpoint = Checkpoint.LAST
    oof_size: int = Field(512, gt=0, le=MAX_SIDE)  # OOF probabilities kept on a grid of at most this many pixels a side
    loss: dict[str, float] = {LossTerm.BCE_DICE.value: 1.0}

    @field_validator("loss")
    @classmethod
    def _known_terms(cls, terms: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(terms) - set(choices(LossTerm)))
        if unknown:
            raise ValueError(f"unknown loss term {unknown[0]!r}; choose from {', '.join(choices(LossTerm))}")
        if not terms:
            raise ValueError("needs at least one loss term")
        if not all(math.isfinite(w) and 0 <= w <= 1e6 for w in terms.values()) or not any(terms.values()):
            raise ValueError("term weights must be finite numbers in [0, 1e6], at least one above 0")
        return terms


class RunConfig(Strict):
    dir: Path
    tensorboard: bool = True
    wandb: bool = False  # needs `pip install wandb`; offline by default, `wandb sync` uploads later
    wandb_project: str = "segzoo"
    wandb_mode: Literal["offline", "online"] = "offline"


class MemberConfig(Strict):
    """One ensemble member: a model recipe trained on one fold at a time."""

    task: TaskName
    data: DataConfig
    model: ModelConfig
    augment: AugmentConfig = AugmentConfig()
    optim: OptimConfig = OptimConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    train: TrainConfig
    run: RunConfig

    @model_validator(mode="after")
    def _crops_predict_by_sliding_window(self) -> MemberConfig:
        if self.data.sampling == Sampling.CROPS and self.model.inference != Inference.SLIDING_WINDOW:
            raise ValueError("data.sampling: crops trains at native scale, so it needs model.inference: "
                             "sliding_window")
        return self


class EnsembleMember(Strict):
    """`tta` / `tta_scales` unset: what the member was validated with (its `model.tta`, `model.tta_scales`)."""

    path: str
    weight: float = Field(1.0, gt=0, le=1e6)
    tta: TTA | None = None
    tta_scales: tuple[Scale, ...] | None = Field(None, min_length=1, max_length=16)
    skip_preprocess: bool = False  # predict without the member's `data.preprocess` (to measure what it brings)


class EnsembleData(Strict):
    root: Path


class EnsembleOutput(Strict):
    csv: Path
    masks_dir: Path | None = None


class PostProcess(Strict):
    """One class's clean-up of its thresholded mask, before RLE."""

    step: PostStep = PostStep.NONE
    min_share: float = Field(0.0, ge=0, lt=1)  # remove_small: components below this share of the image's pixels


class EnsembleConfig(Strict):
    """Members (run folders or globs) soft-voted into a submission CSV."""

    task: TaskName
    members: list[str | EnsembleMember] = Field(min_length=1)
    data: EnsembleData
    output: EnsembleOutput
    thresholds: Probability | Path = DEFAULT_THRESHOLD  # one for every class, or tune-thresholds' file
    weights: Path | None = None  # from tune-ensemble: per-class entry weights, thresholds, post-processing
    postprocess: dict[str, PostProcess] = {}  # by hand, per class name (a weights file's own replaces it)
    cache_dir: Path | None = None
    device: str = "auto"
    amp: bool | None = None  # prediction in mixed precision; unset: each member's own train.amp
    amp_dtype: AmpDtype = AmpDtype.AUTO
    batch_size: int = Field(1, gt=0, le=4096)

    def member_entries(self) -> list[EnsembleMember]:
        return [m if isinstance(m, EnsembleMember) else EnsembleMember(path=m) for m in self.members]

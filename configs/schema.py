"""Typed configs: YAML + `--set key.sub=value` overrides -> validated pydantic objects."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr, field_validator, model_validator

from configs.task import builtin_tasks
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
TaskReference = Annotated[StrictStr, Field(min_length=1)]  # a built-in task's name or a task file (read by get_task)
TASK_HELP = f"a built-in task ({', '.join(builtin_tasks())}) or the path of a task file"


class PreprocessStep(Strict):
    """Applied to every image the member sees: training, validation, OOF, ensemble (unlike `augment.clahe`)."""

    name: Literal["clahe"] = Field(description="the step (clahe)")
    clip_limit: float = Field(2.0, gt=0, le=255, description="CLAHE contrast limit")
    tile_grid: int = Field(8, gt=0, le=64, description="tiles per side (OpenCV allocates a histogram per tile)")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class DataConfig(Strict):
    """`image_size` is the resize target, or with `sampling: crops` the crop (and sliding window) size."""

    root: Path = Field(description="the dataset root in the task's layout")
    splits: Path = Field(description="the splits.json every member of the task trains on")
    image_size: int = Field(256, gt=0, le=MAX_SIDE, multiple_of=32,
        description="the training input side (resize target, or the crop and sliding-window size)")
    sampling: Sampling = Field(Sampling.RESIZE, description="resize whole images, or cut random crops at native size")
    crops_per_image: int = Field(4, gt=0, le=10000, description="crops per image and epoch (sampling: crops)")
    foreground_share: float = Field(0.5, ge=0, le=1,
        description="share of crops centred on a class pixel (sampling: crops)")
    cache: bool = Field(True, description="decode images once and keep them (masks bit-packed) in memory")
    workers: int = Field(0, ge=0, le=256, description="DataLoader worker processes (each draws its own augmentations)")
    preprocess: list[PreprocessStep] = Field(
        [], description="e.g. [clahe] or [{name: clahe, clip_limit: 2.0, tile_grid: 8}]")
    extra_roots: dict[str, Path] = Field(
        {}, description="more roots of the task's layout; splits name their cases '<key>::<case>'")


class ModelConfig(Strict):
    name: str = Field(
        description="the zoo family (effisegnet-b0..b7, effisegnet-timm, smp, unetplusplus, swinunetr, yolov8-seg)")
    params: dict[str, Any] = Field({}, description="the family constructor's keywords (smp: arch, encoder_name, ...)")
    pretrained: bool = Field(False, description="ImageNet weights from the library hub (online)")
    weights: Path | None = Field(None, description="a local weights file (safetensors; .pt with trust_pickle)")
    inference: Inference = Field(Inference.RESIZE,
        description="resize the image to image_size, or slide windows over it at full size")
    overlap: float = Field(0.25, ge=0, lt=1, description="overlap of sliding windows")
    sw_batch_size: int = Field(1, gt=0, le=1024,
        description="windows per forward: raise it on a GPU (on 2 CPU cores 4 was slower)")
    tta: TTA = Field(TTA.NONE, description="test-time augmentation views averaged at validation and prediction")
    tta_scales: tuple[Scale, ...] = Field((1.0,), min_length=1, max_length=16,
        description="input scales averaged with TTA views")
    trust_pickle: bool = Field(
        False, description="yolov8-seg: allow `weights:` to be an ultralytics .pt (a pickle: only files you trust)")
    trainer_args: dict[str, Any] = Field(
        {}, description="yolov8-seg: further ultralytics training arguments (mosaic, close_mosaic, ...)")
    # yolov8-seg from random init: the boxes it starts with, in strides from the anchor to each side (ultralytics
    # starts at 7.5, far larger than small objects at small input sizes, whose assignments then carry no signal)
    box_prior: float | None = Field(None, gt=0, lt=7.5,
        description="yolov8-seg from random init: initial box size in strides")


def chance(default: float, description: str) -> Any:
    """A probability field of `AugmentConfig`: in [0, 1], 0 disables the augmentation."""
    return Field(default, ge=0, le=1, description=description)


class AugmentConfig(Strict):
    """Probabilities (0 disables) and limits of the training augmentations."""

    hflip: float = chance(0.5, "probability of a horizontal flip")
    vflip: float = chance(0.0, "probability of a vertical flip")
    rotate: float = chance(0.0, "probability of a rotation within rotate_limit")
    rotate_limit: float = Field(15.0, ge=0, le=180, description="+- degrees of augment.rotate")
    affine: float = chance(0.0, "probability of an affine (scale, translate, rotate limits below)")
    color_jitter: float = chance(0.0,
        "probability of brightness, contrast, saturation and hue jitter (the jitter_ limits)")
    clahe: float = chance(0.0, "probability of CLAHE (contrast-limited histogram equalisation)")
    elastic: float = chance(0.0, "probability of an elastic deformation")
    black_rectangle: float = chance(0.0,
        "probability of blacking out the top-left 30% x 30% (an endoscope's overlay corner)")
    # photometric changes another scanner or hospital brings (albumentations' own transforms)
    gamma: float = chance(0.0, "RandomGamma within gamma_limit (percent)")
    hue_saturation: float = chance(0.0, "HueSaturationValue shifts within +- hsv_limits")
    rgb_shift: float = chance(0.0, "RGBShift: each channel shifted within +- rgb_shift_limit")
    blur: float = chance(0.0, "GaussianBlur, sigma within blur_sigma")
    jpeg: float = chance(0.0, "ImageCompression (JPEG) at a quality within jpeg_quality")
    # limits (the official EffiSegNet recipe: scale [0.5, 1.5], translate 0.125, rotate 90, brightness
    # [0.6, 1.6], contrast 0.2, saturation 0.1, hue 0.01, elastic with albumentations' defaults 1 / 50)
    affine_scale: tuple[Annotated[float, Field(gt=0, le=10)], Annotated[float, Field(gt=0, le=10)]] = Field(
        (0.9, 1.1), description="[low, high] zoom of augment.affine")
    affine_translate: float = Field(0.05, ge=0, le=1, description="+- share of the side")
    affine_rotate: float = Field(10.0, ge=0, le=180, description="+- degrees")
    jitter_brightness: tuple[Annotated[float, Field(ge=0, le=10)], Annotated[float, Field(ge=0, le=10)]] = Field(
        (0.8, 1.2), description="[low, high] brightness factor of augment.color_jitter")
    jitter_contrast: float = Field(0.2, ge=0, le=1, description="+- contrast of augment.color_jitter")
    jitter_saturation: float = Field(0.2, ge=0, le=1, description="+- saturation of augment.color_jitter")
    jitter_hue: float = Field(0.05, ge=0, le=0.5, description="+- hue (fraction of the circle) of augment.color_jitter")
    elastic_alpha: float = Field(30.0, ge=0, le=1000, description="displacement strength of augment.elastic")
    elastic_sigma: float = Field(6.0, gt=0, le=1000, description="smoothness of augment.elastic")
    gamma_limit: tuple[Annotated[float, Field(gt=0, le=1000)], Annotated[float, Field(gt=0, le=1000)]] = Field(
        (70, 150), description="[low, high] gamma, in percent, of augment.gamma")
    hsv_limits: tuple[Annotated[float, Field(ge=0, le=180)], Annotated[float, Field(ge=0, le=255)],
                      Annotated[float, Field(ge=0, le=255)]] = Field(
        (10, 30, 20), description="+- hue, saturation and value shifts of augment.hue_saturation")
    rgb_shift_limit: float = Field(20.0, ge=0, le=255,
        description="+- shift of each channel (0-255) of augment.rgb_shift")
    blur_sigma: tuple[Annotated[float, Field(gt=0, le=50)], Annotated[float, Field(gt=0, le=50)]] = Field(
        (0.3, 2.0), description="[low, high] Gaussian sigma of augment.blur")
    jpeg_quality: tuple[Annotated[int, Field(ge=1, le=100)], Annotated[int, Field(ge=1, le=100)]] = Field(
        (30, 90), description="[low, high] JPEG quality of augment.jpeg")

    @model_validator(mode="after")
    def _ranges_ordered(self) -> AugmentConfig:
        for key in ("affine_scale", "jitter_brightness", "gamma_limit", "blur_sigma", "jpeg_quality"):
            low, high = getattr(self, key)
            if low > high:
                raise ValueError(f"{key}: the range [{low}, {high}] runs backwards")
        return self


class OptimConfig(Strict):
    name: OptimizerName = Field(OptimizerName.ADAMW, description="adam, adamw, sgd or lion")
    lr: float = Field(1e-3, gt=0, le=10, description="learning rate")
    weight_decay: float = Field(0.0, ge=0, le=10, description="weight decay")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")


class SchedulerConfig(Strict):
    name: SchedulerName = Field(SchedulerName.COSINE, description="none, cosine, step or plateau")
    min_lr: float = Field(0.0, ge=0, le=10, description="the learning rate cosine decays to")
    warmup_epochs: int = Field(0, ge=0, le=100000, description="linear warm-up epochs")
    step_size: int = Field(30, gt=0, le=100000, description="epochs between steps (step)")
    gamma: float = Field(0.1, gt=0, le=1, description="factor per step (step, plateau)")
    patience: int = Field(5, ge=0, le=100000, description="epochs without gain before a step (plateau)")


class TrainConfig(Strict):
    epochs: int = Field(gt=0, le=100000, description="training epochs")
    batch_size: int = Field(8, gt=0, le=65536, description="images per step")
    accumulate: int = Field(1, gt=0, le=65536, description="steps whose gradients are summed before an update")
    val_every: int = Field(1, gt=0, le=100000, description="validate every N epochs (and after the last)")
    swa_start: int | None = Field(None, ge=0, le=100000, description="epoch from which weights are averaged (SWA)")
    swa_lr: float | None = Field(None, gt=0, le=10, description="the SWA learning rate (unset: keep the schedule)")
    # an exponential moving average of the weights, updated every optimiser step; validated, kept as the best
    # checkpoint and used for OOF in place of the raw weights (e.g. 0.999; unset: off)
    ema_decay: float | None = Field(None, gt=0, lt=1,
        description="exponential moving average of the weights, validated, kept and predicting the OOF (unset: off)")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    amp: bool = Field(False, description="mixed precision (train.amp_dtype); losses and metrics stay float32")
    amp_dtype: AmpDtype = Field(AmpDtype.AUTO,
        description="auto (bfloat16 on CPU, float16 on CUDA), bfloat16 or float16")
    channels_last: bool = Field(False, description="NHWC memory format")
    sync_bn: bool = Field(False, description="under torchrun: BatchNorm statistics synchronised across processes")
    threads: int | None = Field(None, ge=1, le=4096, description="torch intra-op threads (unset: torch default)")
    seed: int = Field(0, ge=0, lt=2**63, description="seeds weights, shuffling and every augmentation stream")
    # the weights kept and predicting the OOF: `last` (the final epoch's, or the SWA average) or `best` (the epoch
    # with the best validation Dice: the OOF it predicts then took part in choosing it, so it is optimistic)
    checkpoint: Checkpoint = Field(Checkpoint.LAST,
        description="last (default: the final weights, honest OOF) or best (the best-validating epoch: optimistic OOF)")
    oof_size: int = Field(512, gt=0, le=MAX_SIDE,
        description="OOF probabilities kept on a grid of at most this many pixels a side")
    loss: dict[str, float] = Field({LossTerm.BCE_DICE.value: 1.0},
        description="loss terms and weights, e.g. {dice_ce: 1.0}")

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
    dir: Path = Field(description="where fold<k>/ is written")
    tensorboard: bool = Field(True, description="write TensorBoard event files in the run folder")
    wandb: bool = Field(False, description="needs `pip install wandb`; offline by default, `wandb sync` uploads later")
    wandb_project: str = Field("segzoo", description="the wandb project")
    wandb_mode: Literal["offline", "online"] = Field("offline", description="offline (sync later) or online")


class MemberConfig(Strict):
    """One ensemble member: a model recipe trained on one fold at a time."""

    task: TaskReference = Field(description=TASK_HELP)
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

    path: str = Field(description="a run folder or a glob of them")
    weight: float = Field(1.0, gt=0, le=1e6, description="relative weight in the vote (normalised in float64)")
    tta: TTA | None = Field(None, description="TTA views for this entry (unset: the member own model.tta)")
    tta_scales: tuple[Scale, ...] | None = Field(None, min_length=1, max_length=16,
        description="input scales for this entry (unset: the member own)")
    skip_preprocess: bool = Field(
        False, description="predict without the member's `data.preprocess` (to measure what it brings)")


class EnsembleData(Strict):
    root: Path = Field(
        description="the data root whose test images (its task file's images.test) are predicted")


class EnsembleOutput(Strict):
    csv: Path = Field(description="the submission CSV")
    masks_dir: Path | None = Field(None,
        description="where single-class PNG masks go (unset: <csv stem>_masks beside it)")


class PostProcess(Strict):
    """One class's clean-up of its thresholded mask, before RLE."""

    step: PostStep = Field(PostStep.NONE,
        description="none, largest (component), remove_small, fill_holes, never_empty")
    min_share: float = Field(0.0, ge=0, lt=1,
        description="remove_small: components below this share of the image's pixels")
    peak_share: float = Field(0.5, gt=0, le=1, description="never_empty: an empty mask becomes the component, "
        "around the most probable pixel, of the pixels at this share of that peak probability or above")


class EnsembleConfig(Strict):
    """Members (run folders or globs) soft-voted into a submission CSV."""

    task: TaskReference = Field(description=f"the task the members were trained for: {TASK_HELP}")
    members: list[str | EnsembleMember] = Field(min_length=1,
        description="run folders or globs (fold*), or entries with path, weight, tta, tta_scales")
    data: EnsembleData = Field(description="where the images to predict are")
    output: EnsembleOutput = Field(description="the CSV (and masks folder) to write")
    thresholds: Probability | Path = Field(
        DEFAULT_THRESHOLD, description="one for every class, or tune-thresholds' file")
    weights: Path | None = Field(
        None, description="from tune-ensemble: per-class entry weights, thresholds, post-processing")
    postprocess: dict[str, PostProcess] = Field(
        {}, description="by hand, per class name (a weights file's own replaces it)")
    cache_dir: Path | None = Field(None,
        description="member probabilities kept per image (changes nothing: the CSV is byte-equal without it)")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    amp: bool | None = Field(None, description="prediction in mixed precision; unset: each member's own train.amp")
    amp_dtype: AmpDtype = Field(AmpDtype.AUTO, description="auto, bfloat16 or float16 for amp")
    batch_size: int = Field(1, gt=0, le=4096, description="images per forward of every member")

    def member_entries(self) -> list[EnsembleMember]:
        return [m if isinstance(m, EnsembleMember) else EnsembleMember(path=m) for m in self.members]

"""The JSON files the project writes and reads: one typed model per file, one writer (`write_model`) and one
reader (`read_model`), which refuses NaN and Infinity and names the file and the key of any problem."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, field_validator

import atomic
from configs.load import validated
from configs.schema import MemberConfig, PostProcess, Probability
from configs.task import SubmissionSpec
from errors import UserError
from jsonfile import read_json

FileModel = TypeVar("FileModel", bound=BaseModel)


class Typed(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)


class Fold(Typed):
    train: list[StrictStr] = Field(min_length=1, description="the cases it trains on (paths relative to the root)")
    val: list[StrictStr] = Field(min_length=1, description="the cases it validates on and writes OOF files of")

    @field_validator("train", "val")
    @classmethod
    def _each_once(cls, cases: list[str], info: Any) -> list[str]:
        twice = next((case for case, n in Counter(cases).items() if n > 1), None)
        if twice is not None:
            raise ValueError(f"lists {twice!r} twice in its {info.field_name} list")
        return cases


class Splits(Typed):
    """`splits.json`: the folds every member of a task trains on."""

    task: StrictStr = Field(description="the task's name")
    method: StrictStr = Field(description="group-kfold, kfold or release")
    seed: StrictInt = Field(ge=0, description="the shuffling seed")
    k: StrictInt = Field(ge=1, description="the number of folds (1: the release split)")
    folds: list[Fold] = Field(min_length=1, description="each fold's train and val cases")

    def fold(self, index: int) -> Fold:
        if not 0 <= index < len(self.folds):
            raise UserError(f"fold {index} does not exist: the splits have {len(self.folds)} folds "
                            f"(0..{len(self.folds) - 1})")
        return self.folds[index]


class Thresholds(Typed):
    """`tune-thresholds`' file: a threshold per class, and the OOF Dice it was chosen by."""

    thresholds: dict[str, Probability] = Field(description="class -> threshold")
    oof_images: StrictInt | None = Field(None, ge=0, description="the OOF images it was tuned on")
    oof_dice_default: Probability | None = Field(None, description="their mean Dice at threshold 0.5")
    oof_dice_tuned: Probability | None = Field(None, description="their mean Dice at the tuned thresholds")


class EnsembleWeights(Typed):
    """`tune-ensemble`'s file: per class each entry's weight and the threshold and post-processing; the
    cross-validated summary beside them is for the reader's eyes."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    members: list[StrictStr] = Field(min_length=1, description="the ensemble config's entries it was tuned for")
    weights: dict[str, dict[str, Annotated[StrictFloat, Field(ge=0, le=1e6)]]] = Field(
        description="class -> entry -> weight (relative)")
    thresholds: dict[str, Probability] = Field(description="class -> threshold of the weighted vote")
    postprocess: dict[str, PostProcess] = Field({}, description="class -> the clean-up kept (none when it did not "
                                                                "help cross-validated)")


class ShardSidecar(Typed):
    """`PART.csv.shard.json`: which shard of which job a partial CSV is (images in the CSV's order)."""

    shard: StrictInt = Field(ge=0, description="this partial's shard index")
    shards: StrictInt = Field(ge=1, description="the job's shard count")
    task: StrictStr = Field(description="the task's name")
    classes: list[StrictStr] = Field(min_length=1, description="the classes, in submission order")
    images: list[tuple[StrictStr, Annotated[StrictInt, Field(gt=0)], Annotated[StrictInt, Field(gt=0)]]] = Field(
        description="every image of the whole job as [name, height, width], in the CSV's order")
    submission: SubmissionSpec = Field(SubmissionSpec(), description="the task's CSV conventions, which `merge` "
                                                                     "writes by")


class WeightsSidecar(Typed):
    """`FILE.safetensors.json`: where `import-weights` took the tensors from and how it mapped them."""

    source: StrictStr = Field(description="the file the tensors came from")
    sha256: StrictStr = Field(description="its SHA-256")
    target: StrictStr = Field(description="what received them: the network, or its encoder")
    model: StrictStr = Field(description="the member config's model name")
    tensors: StrictInt = Field(ge=0, description="how many tensors were mapped")
    mapping: dict[str, StrictStr] = Field(description="target name -> source name")


class RunState(Typed):
    """`state.json`: what a run folder holds and how it was trained."""

    config: MemberConfig = Field(description="the member config it was trained with (its keys: config.md)")
    task: str = Field("", description="the task's name (\"\": a run from before task files; its config.task)")
    classes: list[str] = Field(description="the classes, in the task's order")
    val_cases: list[str] = Field([], description="the fold's validation cases (its OOF images)")
    fold: int = Field(0, description="the fold index")
    epoch: int = Field(0, description="epochs trained")
    best_epoch: int = Field(0, description="the epoch that validated best (-1: the SWA average)")
    best_dice: float = Field(-1.0, description="its mean validation Dice")
    kept_epoch: int = Field(0, description="the epoch whose weights model.safetensors holds and the OOF comes from "
                                           "(-1: SWA)")
    kept_dice: float = Field(-1.0, description="its validation Dice (the OOF's); train.checkpoint says how it was "
                                               "chosen")
    data_hash: str = Field("", description="a hash of the fold's case names and file sizes: --resume refuses others")
    world_size: int = Field(1, description="processes that trained it")
    precision: str = Field("", description="device type and autocast dtype, 'cpu/bfloat16' (\"\": not recorded)")
    last_val_dice_per_class: list[float] | None = Field(None, description="the last validation's Dice per class")
    oof_done: bool = Field(False, description="whether every OOF file is written")
    trainer: Literal["segzoo", "ultralytics"] = Field("segzoo", description="whose loop trained it")


def read_model(path: Path | str, model: type[FileModel], what: str) -> FileModel:
    """`path` parsed as finite JSON in UTF-8 and validated into `model`; any problem is one UserError naming
    `what`, the file and the key."""
    try:
        raw = read_json(path)
    except OSError:
        raise UserError(f"cannot read {what}: {path}") from None
    except ValueError as err:
        raise UserError(f"bad {what} {path}: not JSON as the format defines it ({err})") from None
    return validated(raw, model, f"bad {what} {path}")


def write_model(path: Path | str, document: BaseModel) -> Path:
    """The one writer of every file above (atomic; extra summary keys of `EnsembleWeights` included)."""
    atomic.write_text(path, json.dumps(document.model_dump(mode="json"), indent=1))
    return Path(path)

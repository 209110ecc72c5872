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
    train: list[StrictStr] = Field(min_length=1)
    val: list[StrictStr] = Field(min_length=1)

    @field_validator("train", "val")
    @classmethod
    def _each_once(cls, cases: list[str], info: Any) -> list[str]:
        twice = next((case for case, n in Counter(cases).items() if n > 1), None)
        if twice is not None:
            raise ValueError(f"lists {twice!r} twice in its {info.field_name} list")
        return cases


class Splits(Typed):
    """`splits.json`: the folds every member of a task trains on."""

    task: StrictStr
    method: StrictStr
    seed: StrictInt = Field(ge=0)
    k: StrictInt = Field(ge=1)
    folds: list[Fold] = Field(min_length=1)

    def fold(self, index: int) -> Fold:
        if not 0 <= index < len(self.folds):
            raise UserError(f"fold {index} does not exist: the splits have {len(self.folds)} folds "
                            f"(0..{len(self.folds) - 1})")
        return self.folds[index]


class Thresholds(Typed):
    """`tune-thresholds`' file: a threshold per class, and the OOF Dice it was chosen by."""

    thresholds: dict[str, Probability]
    oof_images: StrictInt | None = Field(None, ge=0)
    oof_dice_default: Probability | None = None
    oof_dice_tuned: Probability | None = None


class EnsembleWeights(Typed):
    """`tune-ensemble`'s file: per class each entry's weight and the threshold and post-processing; the
    cross-validated summary beside them is for the reader's eyes."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    members: list[StrictStr] = Field(min_length=1)
    weights: dict[str, dict[str, Annotated[StrictFloat, Field(ge=0, le=1e6)]]]
    thresholds: dict[str, Probability]
    postprocess: dict[str, PostProcess] = {}


class ShardSidecar(Typed):
    """`PART.csv.shard.json`: which shard of which job a partial CSV is (images in the CSV's order)."""

    shard: StrictInt = Field(ge=0)
    shards: StrictInt = Field(ge=1)
    task: StrictStr
    classes: list[StrictStr] = Field(min_length=1)
    images: list[tuple[StrictStr, Annotated[StrictInt, Field(gt=0)], Annotated[StrictInt, Field(gt=0)]]]
    submission: SubmissionSpec = SubmissionSpec()  # the task's CSV conventions, which `merge` writes by


class WeightsSidecar(Typed):
    """`FILE.safetensors.json`: where `import-weights` took the tensors from and how it mapped them."""

    source: StrictStr
    sha256: StrictStr
    target: StrictStr
    model: StrictStr
    tensors: StrictInt = Field(ge=0)
    mapping: dict[str, StrictStr]


class RunState(Typed):
    """`state.json`: what a run folder holds and how it was trained."""

    config: MemberConfig
    task: str = ""  # the task's name (its task file's `name`; "": a run from before task files, config.task)
    classes: list[str]
    val_cases: list[str] = []
    fold: int = 0
    epoch: int = 0
    best_epoch: int = 0  # the epoch that validated best (-1: the SWA average)
    best_dice: float = -1.0
    kept_epoch: int = 0  # the epoch whose weights model.safetensors holds and the OOF comes from (-1: SWA)
    kept_dice: float = -1.0  # its validation Dice (the OOF's Dice); train.checkpoint says how it was chosen
    data_hash: str = ""
    world_size: int = 1  # processes that trained it
    precision: str = ""  # device type and autocast dtype it trains with, "cpu/bfloat16" ("": not recorded)
    last_val_dice_per_class: list[float] | None = None
    oof_done: bool = False
    trainer: Literal["segzoo", "ultralytics"] = "segzoo"


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

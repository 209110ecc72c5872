"""Task files: a competition's classes, image folders, label format, fold groups, submission and metric, as data.

`task:` in a config (and `--task`) takes a built-in name -- a file of `configs/tasks/` -- or the path of a task
file. Every problem is one line naming the file and the key."""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
    model_validator,
)

from configs.load import own_raw, validated
from errors import UserError
from names import ROOT_SEPARATOR, LabelFormat, RleOrder, SplitMethod

BUILTIN_FOLDER = Path(__file__).parent / "tasks"
FOLDER_FORMATS = (LabelFormat.BINARY_MASK, LabelFormat.MASK_PER_CLASS, LabelFormat.LABEL_MAP, LabelFormat.POLYGON_JSON)
FILE_FORMATS = (LabelFormat.COCO, LabelFormat.RLE_CSV)


def as_list(value: Any) -> Any:
    """A single string where a list of them is expected: the list of that one."""
    return [value] if isinstance(value, str) else value


Folders = Annotated[list[StrictStr], BeforeValidator(as_list), Field(min_length=1)]
ImageNaming = Literal["name", "stem"]


class TaskPart(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ImagesSpec(TaskPart):
    """Where a task's images are, relative to the data root."""

    train: Folders = Field(description="the labelled image folder(s); folders absent from a root are skipped")
    test: Folders = Field(["."], description="candidate folders of the images to predict: the first present "
                                             "one is used ('.' is the data root itself)")
    suffixes: list[StrictStr] | None = Field(None, min_length=1,
                                             description="image file suffixes (default: every readable one)")
    unique_names: StrictBool = Field(True, description="refuse two labelled images of one file name (false: only "
                                                       "a fold's validation names must differ)")

    @field_validator("suffixes")
    @classmethod
    def _dotted(cls, suffixes: list[str] | None) -> list[str] | None:
        return None if suffixes is None else [s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes]


class PolygonKeys(TaskPart):
    """The key names of a polygon JSON: its list of annotations, and in each the label and the [x, y] points."""

    annotations: StrictStr = Field("annotations", description="the key of the list of annotations")
    label: StrictStr = Field("label", description="the key of an annotation's class name")
    points: StrictStr = Field("points", description="the key of an annotation's [[x, y], ...] points")


class LabelsSpec(TaskPart):
    """The label format (a registered reader and writer) and where its files are."""

    format: LabelFormat = Field(description="binary-mask, mask-per-class, label-map, polygon-json, coco or rle-csv")
    folder: Folders | None = Field(None, description="folder formats: the label folder beside each images.train "
                                                     "folder, in the same order (relative to the data root)")
    file: StrictStr | None = Field(None, description="coco, rle-csv: the one label file (relative to the data root)")
    ignore: int | None = Field(None, ge=1, le=65535, description="label-map: the value counted in neither loss "
                                                                 "nor metric (e.g. 255)")
    order: RleOrder = Field(RleOrder.ROW_MAJOR, description="rle-csv: how masks are flattened")
    start: Literal[0, 1] = Field(1, description="rle-csv: the index of the first pixel")
    columns: list[StrictStr] = Field(["image_name", "class", "rle"], min_length=3, max_length=3,
                                     description="rle-csv: the columns holding image, class and RLE")
    image: ImageNaming = Field("name", description="rle-csv, coco: images named by file name or by stem")
    keys: PolygonKeys = Field(PolygonKeys(), description="polygon-json: the key names")
    suffix: StrictStr | None = Field(None, min_length=1, description="what follows an image's stem in its label "
                                     "file's name: '_segmentation.png', '_mask.tif' (folder formats; default: any "
                                     "image suffix, .png for label maps, .json for polygons)")

    @model_validator(mode="after")
    def _where(self) -> LabelsSpec:
        if self.format in FOLDER_FORMATS and self.folder is None:
            raise ValueError(f"labels.folder: the {self.format} format needs the folder of its labels")
        if self.format in FILE_FORMATS and self.file is None:
            raise ValueError(f"labels.file: the {self.format} format needs the file of its labels")
        if self.format in FILE_FORMATS and self.folder is not None:
            raise ValueError(f"labels.folder: the {self.format} format reads one file (labels.file)")
        if self.format in FOLDER_FORMATS and self.file is not None:
            raise ValueError(f"labels.file: the {self.format} format reads a folder (labels.folder)")
        if self.ignore is not None and self.format != LabelFormat.LABEL_MAP:
            raise ValueError(f"labels.ignore: only a label-map has an ignore value, not {self.format}")
        return self


class ReleaseSplit(TaskPart):
    """A fixed split by path prefix (`split --method release`)."""

    train: StrictStr = Field(description="the path prefix of the training cases (e.g. train/)")
    val: StrictStr = Field(description="the path prefix of the validation cases")


class GroupsSpec(TaskPart):
    """How folds group images, and the default split method."""

    pattern: StrictStr | None = Field(None, description="a regular expression over the relative path; its first "
                                                        "group (or the match) names a case's group; none: each "
                                                        "image is its own group")
    method: SplitMethod | None = Field(None, description="the default split method (group-kfold with a pattern, "
                                                         "else kfold)")
    release: ReleaseSplit | None = Field(None, description="the fixed train/validation split by path prefix")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"does not compile: {err}") from None
        return pattern

    def default_method(self) -> SplitMethod:
        if self.method is not None:
            return self.method
        return SplitMethod.GROUP_KFOLD if self.pattern else SplitMethod.KFOLD


class SubmissionSpec(TaskPart):
    """The submission CSV: header, image and RLE conventions, empty masks, and PNG masks beside it."""

    columns: list[StrictStr] = Field(["image_name", "class", "rle"], min_length=3, max_length=3,
                                     description="the header: image, class and RLE columns")
    image: ImageNaming = Field("name", description="an image named by its file name or its stem")
    order: RleOrder = Field(RleOrder.ROW_MAJOR, description="how a mask is flattened for its RLE")
    start: Literal[0, 1] = Field(1, description="the index of the first pixel in an RLE")
    empty: Literal["field", "omit"] = Field("field", description="an empty mask: a row with an empty RLE, or no row")
    masks: StrictBool = Field(False, description="write PNG masks beside the CSV (single-class tasks)")

    @field_validator("columns")
    @classmethod
    def _distinct(cls, columns: list[str]) -> list[str]:
        if len(set(columns)) < len(columns) or not all(columns):
            raise ValueError(f"three different non-empty names, got {columns}")
        return columns

    def image_key(self, case: str) -> str:
        """How the CSV names the image of a case."""
        path = Path(case.rpartition(ROOT_SEPARATOR)[2])
        return path.stem if self.image == "stem" else path.name


class MetricSpec(TaskPart):
    """Dice per image and class, as the competition computes it."""

    smoothing: float = Field(0.0, ge=0, le=1e6, description="added to numerator and denominator of every Dice")
    both_empty: Literal[0, 1, "omit"] = Field(1, description="an image and class empty in truth and prediction: "
                                                             "scores 1, 0, or is left out of the means")


class TaskSpec(TaskPart):
    """A task file, validated."""

    name: StrictStr | None = Field(None, description="the task's name (default: the file's stem)")
    classes: list[StrictStr] = Field(min_length=1, description="class names, in submission order")
    exclusive: StrictBool = Field(False, description="true: a pixel holds at most one class (the most probable "
                                                     "above its threshold)")
    images: ImagesSpec = Field(description="where the images are")
    labels: LabelsSpec = Field(description="the label format and its files")
    groups: GroupsSpec = GroupsSpec()
    submission: SubmissionSpec = SubmissionSpec()
    metric: MetricSpec = MetricSpec()
    synth: Literal["shapes", "hands", "polyps"] = Field("shapes", description="what `synth` draws: shapes for "
                                                                               "any task")
    every_image_holds_every_class: StrictBool = Field(False, description="pseudo-labels: an image missing a "
                                                                          "class is unsure")

    @field_validator("classes")
    @classmethod
    def _once(cls, classes: list[str]) -> list[str]:
        twice = next((c for c, n in Counter(classes).items() if n > 1), None)
        if twice is not None:
            raise ValueError(f"names {twice!r} twice")
        if not all(c.strip() for c in classes):
            raise ValueError("a class name is empty")
        return classes

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        folders = self.labels.folder
        if folders is not None and len(folders) != len(self.images.train):
            raise ValueError(f"labels.folder: {len(folders)} folders for {len(self.images.train)} images.train "
                             f"folders (one label folder beside each)")
        if self.labels.format == LabelFormat.BINARY_MASK and len(self.classes) != 1:
            raise ValueError(f"labels.format: binary-mask holds one class, the task lists {len(self.classes)}")
        if self.labels.format == LabelFormat.LABEL_MAP and len(self.classes) > 65535 - 1:
            raise ValueError("classes: too many for a 16-bit label map")
        return self


@lru_cache(maxsize=64)
def _load(path: Path, version: tuple[int, int]) -> TaskSpec:
    """The task file at `path` as of `version` (its modification time in ns and size), validated once."""
    raw = own_raw(path)
    spec = validated(raw, TaskSpec, f"task file {path}")
    return spec if spec.name else spec.model_copy(update={"name": path.stem})


def builtin_tasks() -> list[str]:
    """The names of the task files shipped in `configs/tasks/`."""
    return sorted(p.stem for p in BUILTIN_FOLDER.glob("*.yaml"))


def task_file(reference: str | Path) -> Path:
    """The task file a `task:` value names: a built-in name, or a path."""
    reference = str(reference)
    if not reference:
        raise UserError("task: empty; give a built-in name or a task file's path")
    builtin = BUILTIN_FOLDER / f"{reference}.yaml"
    if "/" not in reference and not reference.endswith((".yaml", ".yml")) and builtin.is_file():
        return builtin
    path = Path(reference)
    if not path.is_file():
        raise UserError(f"task {reference!r}: neither a built-in task ({', '.join(builtin_tasks())}) nor a task file")
    return path


def load_task_spec(reference: str | Path) -> TaskSpec:
    """The task file `reference` names, validated; one line naming the file and key on any problem."""
    path = task_file(reference).resolve()
    stat = path.stat()
    return _load(path, (stat.st_mtime_ns, stat.st_size))

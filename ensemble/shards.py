"""Sharded ensembles: `--shard I/N` predicts every N-th sorted test image from the I-th, writing a
partial CSV and a sidecar `<csv>.shard.json`; `merge` joins the partials into the whole CSV."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import atomic
from configs.files import ShardSidecar, read_model, write_model
from configs.task import SubmissionSpec
from errors import UserError
from submit.submission import read_submission, write_submission
from submit.validate import validate_rows

SIDECAR_SUFFIX = ".shard.json"


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`: every count-th sorted test image from the index-th."""
    index: int
    count: int

    @classmethod
    def parse(cls, text: str, environ: Mapping[str, str] = os.environ) -> Shard:
        """'I/N' with 0 <= I < N; 'auto': this task's place in its SLURM job array; 'auto:N': shard
        SLURM_ARRAY_TASK_ID of N, whatever the array (a resubmission of failed ids, --array=5,7, keeps them)."""
        if text.strip() == "auto":
            return cls.from_slurm(environ)
        fixed = re.fullmatch(r"auto:(\d+)", text.strip())
        if fixed:
            return cls.parse(f"{environ.get('SLURM_ARRAY_TASK_ID', '')}/{fixed[1]}", environ)
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match or not 0 <= int(match[1]) < int(match[2]):
            raise UserError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def from_slurm(cls, environ: Mapping[str, str]) -> Shard:
        """The shard of this SLURM array task: its place among the array's task ids (which need not start
        at 0, and may step: --array=1-9:2 is 5 shards)."""
        names = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN")
        missing = [name for name in names if name not in environ]
        if missing:
            raise UserError(f"--shard auto: {missing[0]} is not set: run it as a SLURM array task "
                            f"(sbatch --array=0-N) or give --shard I/N")
        try:
            task, count, low = (int(environ[name]) for name in names)
            step = int(environ.get("SLURM_ARRAY_TASK_STEP", "1"))
        except ValueError:
            raise UserError("--shard auto: SLURM_ARRAY_TASK_ID, _COUNT, _MIN and _STEP must be integers") from None
        index, off_step = divmod(task - low, max(step, 1))
        if count < 1 or off_step or not 0 <= index < count:
            raise UserError(f"--shard auto: task {task} is not one of the {count} tasks of an array from {low} "
                            f"in steps of {step} (SLURM_ARRAY_TASK_*); give --shard I/N")
        return cls(index, count)

    def take(self, items: list[str]) -> list[str]:
        """This shard's share of a sorted list: every N-th item from the I-th."""
        return items[self.index::self.count]


def sidecar_path(csv: Path) -> Path:
    """The sidecar beside a partial CSV: `<csv>.shard.json`."""
    return csv.with_name(csv.name + SIDECAR_SUFFIX)


def write_sidecar(csv: Path, shard: Shard, task: str, classes: tuple[str, ...],
                  sizes: dict[str, tuple[int, int]], spec: SubmissionSpec) -> None:
    """The partial CSV's identity: its shard, the task, and the whole image list with sizes, in the
    CSV's order (sorted relative paths; `sizes` is in that order)."""
    write_model(sidecar_path(csv), ShardSidecar(shard=shard.index, shards=shard.count, task=task, classes=list(classes),
                                                images=[(name, *size) for name, size in sizes.items()],
                                                submission=spec))


@dataclass(frozen=True)
class Partial:
    """A partial CSV of `ensemble --shard` with its sidecar, read for `merge`."""
    csv: Path
    shard: Shard
    task: str
    classes: tuple[str, ...]
    sizes: dict[str, tuple[int, int]]
    spec: SubmissionSpec

    @classmethod
    def read(cls, csv: Path) -> Partial:
        """The partial CSV and its sidecar, or one line saying it has none."""
        path = sidecar_path(csv)
        if not path.is_file():
            raise UserError(f"{csv} has no {path.name} beside it: is it a shard of `ensemble --shard`?")
        raw = read_model(path, ShardSidecar, "shard sidecar")
        if raw.shard >= raw.shards:
            raise UserError(f"bad shard sidecar {path}: shard {raw.shard} of {raw.shards}")
        return cls(csv, Shard(raw.shard, raw.shards), raw.task, tuple(raw.classes),
                   {name: (h, w) for name, h, w in raw.images}, raw.submission)

    def same_job(self, other: Partial) -> bool:
        """Whether two partials come from one job: task, classes, images, shard count and CSV rules."""
        return (self.task, self.classes, self.sizes, self.shard.count, self.spec) == (
            other.task, other.classes, other.sizes, other.shard.count, other.spec)


def merge_shards(csvs: list[str], out: Path | str) -> Path:
    """Check that the partials are the N shards of one job, each exactly once, validate every row
    against the image sizes, and write the whole CSV (sorted images, task class order) atomically."""
    atomic.refuse_input_as_output(out, [*csvs, *(sidecar_path(Path(c)) for c in csvs)], "--out")
    partials = [Partial.read(Path(csv)) for csv in csvs]
    first = partials[0]
    foreign = next((p for p in partials if not p.same_job(first)), None)
    if foreign is not None:
        raise UserError(f"{foreign.csv} is a shard of another job (task, classes, images or shard count) "
                        f"than {first.csv}; resubmitted array tasks keep their shard with --shard auto:N")
    seen: dict[int, Path] = {}
    for partial in partials:
        if partial.shard.index in seen:
            raise UserError(f"shard {partial.shard.index}/{first.shard.count} twice: "
                            f"{seen[partial.shard.index]} and {partial.csv} (a resubmission under --shard auto "
                            f"counts its own array; use --shard auto:N with the original array 0-(N-1))")
        seen[partial.shard.index] = partial.csv
    missing = sorted(set(range(first.shard.count)) - set(seen))
    if missing:
        raise UserError(f"shard {missing[0]}/{first.shard.count} is missing "
                        f"({len(missing)} of {first.shard.count} missing)")
    names = list(first.sizes)  # the CSV's order, as the sidecar lists it
    tables = {}
    for partial in partials:
        expected = partial.shard.take(names)
        table = validate_rows(read_submission(partial.csv, first.spec), first.classes,
                              {n: first.sizes[n] for n in expected}, str(partial.csv), first.spec)
        tables.update(table)
    with write_submission(out, first.classes, first.spec) as writer:
        for name in names:
            writer.write_rles(name, [row.rle for row in tables[name]])
    return Path(out)

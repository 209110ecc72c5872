"""Tasks (a data root read as its task file says), label formats, synthetic data makers and augmentations."""
from __future__ import annotations

from pathlib import Path

from configs.task import load_task_spec
from data.joined_task import JoinedTask
from data.preprocess import Preprocess, no_preprocess
from data.task import Task


def task_classes(reference: str) -> tuple[str, ...]:
    """The classes of the task `reference` names (a built-in name or a task file), in submission order."""
    return tuple(load_task_spec(reference).classes)


def task_name(reference: str) -> str:
    """The name of the task `reference` names: what splits and run folders record."""
    return load_task_spec(reference).name


def get_task(reference: str, root: Path | str, preprocess: Preprocess = no_preprocess,
             extra_roots: dict[str, Path] | None = None) -> Task:
    """The task `reference` names (a built-in name or a task file's path) over the dataset at `root` (and
    `extra_roots`, their cases named '<name>::<case>'), its images read through `preprocess`."""
    spec = load_task_spec(reference)
    task = Task(spec, root, preprocess)
    if not extra_roots:
        return task
    return JoinedTask(task, {key: Task(spec, path, preprocess) for key, path in extra_roots.items()})

"""Tasks (readers), synthetic data makers and augmentations."""
from __future__ import annotations

from pathlib import Path

from data.handbone import HandBoneTask
from data.kvasir import KvasirTask
from data.preprocess import Preprocess, no_preprocess
from data.task import JoinedTask, Task
from errors import UserError

TASKS: dict[str, type[Task]] = {task.name: task for task in (HandBoneTask, KvasirTask)}


def task_classes(name: str) -> tuple[str, ...]:
    """The classes of the task named `name`, in submission order."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name].classes


def get_task(name: str, root: Path | str, preprocess: Preprocess = no_preprocess,
             extra_roots: dict[str, Path] | None = None) -> Task:
    """The task named `name` over the dataset at `root` (and `extra_roots`, their cases named
    '<name>::<case>'), its images read through `preprocess`."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    task = TASKS[name](root, preprocess)
    if not extra_roots:
        return task
    return JoinedTask(task, {key: TASKS[name](path, preprocess) for key, path in extra_roots.items()})

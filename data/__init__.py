"""Tasks (readers), synthetic data makers and augmentations."""
from __future__ import annotations

from pathlib import Path

from data.handbone import HandBoneTask
from data.kvasir import KvasirTask
from data.preprocess import Preprocess, no_preprocess
from data.task import Task
from errors import UserError

TASKS: dict[str, type[Task]] = {task.name: task for task in (HandBoneTask, KvasirTask)}


def get_task(name: str, root: Path | str, preprocess: Preprocess = no_preprocess) -> Task:
    """The task named `name` over the dataset at `root`, its images read through `preprocess`."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name](root, preprocess)

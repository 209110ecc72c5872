"""`validate`: every image x class of a submission as the task's rules ask, every RLE valid within its image."""
from __future__ import annotations

from pathlib import Path

from configs.task import SubmissionSpec
from data import get_task
from data.task import Task
from submit.submission import COMPETITION, Row, group_rows, parse_row, read_submission


def test_image_sizes(task: Task) -> dict[str, tuple[int, int]]:
    """The submission's image name -> (H, W) of the task's test images."""
    return task.test_image_sizes()


def validate_rows(rows: list[Row], classes: tuple[str, ...], sizes: dict[str, tuple[int, int]],
                  source: str, spec: SubmissionSpec = COMPETITION) -> dict[str, list[Row]]:
    """Every image x class exactly once (or, where the task omits empty masks, at most once) and every RLE valid
    within its image."""
    table = group_rows(rows, classes, sizes, source, spec)
    for name, image_rows in table.items():
        size = sizes[name][0] * sizes[name][1]
        for row in image_rows:
            parse_row(row, size, source, spec)
    return table


def validate_csv(task_name: str, csv_path: Path | str, images_dir: Path | str) -> int:
    """Validate a submission against a test image folder as the task's submission rules say; the number of
    images."""
    task = get_task(task_name, images_dir)
    sizes = test_image_sizes(task)
    spec = task.spec.submission
    validate_rows(read_submission(csv_path, spec), task.classes, sizes, str(csv_path), spec)
    return len(sizes)

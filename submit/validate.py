"""`validate`: every image x class of a submission exactly once, every RLE valid within its image."""
from __future__ import annotations

from pathlib import Path

from data import get_task
from data.images import image_size
from data.task import Task
from submit.submission import Row, group_rows, parse_row, read_submission


def test_image_sizes(task: Task) -> dict[str, tuple[int, int]]:
    """Base name -> (H, W) of the task's test images."""
    by_name = task.cases_by_name(task.test_images())
    return {name: image_size(task.root / case) for name, case in by_name.items()}


def validate_rows(rows: list[Row], classes: tuple[str, ...], sizes: dict[str, tuple[int, int]],
                  source: str) -> dict[str, list[Row]]:
    """Every image x class exactly once and every RLE valid within its image."""
    table = group_rows(rows, classes, sizes, source)
    for name, image_rows in table.items():
        size = sizes[name][0] * sizes[name][1]
        for row in image_rows:
            parse_row(row, size, source)
    return table


def validate_csv(task_name: str, csv_path: Path | str, images_dir: Path | str) -> int:
    """Validate a submission against a test image folder; return the number of images."""
    task = get_task(task_name, images_dir)
    sizes = test_image_sizes(task)
    validate_rows(read_submission(csv_path), task.classes, sizes, str(csv_path))
    return len(sizes)

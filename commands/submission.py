"""The validate command: a CSV checked before it is uploaded."""
from __future__ import annotations

import argparse

from commands import AddCommand, add_task


def cmd_validate(args: argparse.Namespace) -> None:
    from submit.validate import validate_csv

    count = validate_csv(args.task, args.csv, args.images)
    print(f"{args.csv}: valid ({count} images)")


def register(add: AddCommand) -> None:
    validate = add("validate", cmd_validate, "check a CSV is accepted before uploading it")
    add_task(validate)
    validate.add_argument("--csv", required=True)
    validate.add_argument("--images", required=True, help="dataset root or test image folder")

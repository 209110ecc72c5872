"""Write docs/reference/{cli,config,task-file,files}.md from the code itself: every command and flag from the
argparse parsers, every config, task file and JSON file key with its type, default and bounds from the pydantic
models. `make docs` runs it; tests/test_docs.py fails when a page differs from what this would write now.

    python docs/generate_reference.py            # rewrite the pages
    python docs/generate_reference.py --check    # exit 1 if a page is stale
"""
from __future__ import annotations

import argparse
import sys
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cli import build_parser  # noqa: E402
from configs.files import EnsembleWeights, RunState, ShardSidecar, Splits, Thresholds, WeightsSidecar  # noqa: E402
from configs.schema import EnsembleConfig, MemberConfig  # noqa: E402
from configs.task import TaskSpec  # noqa: E402

PAGES = {"cli.md": "every command and flag", "config.md": "every config key", "task-file.md": "every task file key",
         "files.md": "every key of every JSON file the project writes"}
FILES = (Splits, Thresholds, EnsembleWeights, ShardSidecar, WeightsSidecar, RunState)
BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("multiple_of", "multiple of"),
          ("min_length", "at least"), ("max_length", "at most"))


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def flag_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        flag = ", ".join(action.option_strings)
        default = "" if action.default in (None, argparse.SUPPRESS) or action.required else f"`{action.default}`"
        kind = "switch" if action.nargs == 0 else ("one of " + ", ".join(map(str, action.choices))
                                                   if action.choices else getattr(action.type, "__name__", "text"))
        rows.append(f"| `{flag}` | {cell(kind)} | {'yes' if action.required else ''} | {cell(default)} | "
                    f"{cell(action.help or '')} |")
    return rows


def cli_page() -> str:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    lines = ["# Command reference (generated from the parsers: `make docs`)", "",
             "`python cli.py [--quiet] [--debug] <command> ...`; every command also takes `--quiet` (no progress "
             "bars) and `--debug` (the traceback of an unexpected error).", ""]
    for name, sub in commands.choices.items():
        lines += [f"## `{name}`", "", cell(helps.get(name, "")), "",
                  "| flag | takes | required | default | what |", "|---|---|---|---|---|",
                  *[row for row in flag_rows(sub) if not row.startswith(("| `--quiet`", "| `--debug`"))], ""]
    return "\n".join(lines)


def type_name(annotation: Any) -> str:
    """A readable type: enums as their choices, Annotated stripped, unions and containers spelled out."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(str(member.value) for member in annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return type_name(args[0])
    if origin in (Union, UnionType):
        return " or ".join(type_name(arg) for arg in args)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is not None:
        inner = ", ".join("..." if arg is Ellipsis else type_name(arg) for arg in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return "null" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def shown(value: Any) -> str:
    """A default as a user writes it in YAML."""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return "null" if value is None else str(value)


def bounds(field: FieldInfo) -> str:
    found = []
    for item in field.metadata:
        found += [f"{word} {getattr(item, key)}" for key, word in BOUNDS if getattr(item, key, None) is not None]
    return ", ".join(found)


def key_rows(model: type[BaseModel], prefix: str = "", whole: tuple[type, ...] = ()) -> list[str]:
    """A table row per key of `model`, nested sections spelled out (except the models in `whole`: one row each)."""
    rows = []
    for name, field in model.model_fields.items():
        key, annotation = f"{prefix}{name}", field.annotation
        nested = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        nested = None if nested in whole else nested
        if nested is not None:
            rows += key_rows(nested, f"{key}.")
            continue
        default = "required" if field.is_required() else f"`{shown(field.get_default(call_default_factory=True))}`"
        rows.append(f"| `{key}` | {cell(type_name(annotation))} | {cell(default)} | {cell(bounds(field))} | "
                    f"{cell(field.description or '')} |")
    return rows


def config_page() -> str:
    lines = ["# Config reference (generated from the pydantic models: `make docs`)", "",
             "Every key can be set in the YAML or with `--set key.sub=value`; unknown keys are refused. A member "
             "config may name another as `base:` (its own keys win, section by section).", ""]
    for title, model in (("Member config (`train-fold`)", MemberConfig), ("Ensemble config", EnsembleConfig)):
        lines += [f"## {title}", "", cell((model.__doc__ or "").strip()), "",
                  "| key | type | default | bounds | what |", "|---|---|---|---|---|", *key_rows(model), ""]
    return "\n".join(lines)


def task_page() -> str:
    lines = ["# Task file reference (generated from the pydantic model: `make docs`)", "",
             "`task:` in a config (and `--task`) takes a built-in name (a file of `configs/tasks/`) or the path of "
             "a task file. Unknown keys are refused; folders and files are relative to the data root. How to write "
             "one, with an example per label format: [bring your own competition](../how-to/add-a-task.md).", "",
             "| key | type | default | bounds | what |", "|---|---|---|---|---|", *key_rows(TaskSpec), ""]
    return "\n".join(lines)


def files_page() -> str:
    lines = ["# JSON file reference (generated from the pydantic models: `make docs`)", "",
             "Every JSON file the project writes has one typed model, one writer (`configs.files.write_model`, "
             "atomic) and one reader (`read_model`: finite JSON in UTF-8, unknown keys refused, one line naming the "
             "file and key). What each stage leaves on disk, the CSV, RLE and OOF arrays: "
             "[the run folder and files on disk](run-folder.md).", ""]
    for model in FILES:
        lines += [f"## `{model.__name__}`", "", cell((model.__doc__ or "").strip()), "",
                  "| key | type | default | bounds | what |", "|---|---|---|---|---|",
                  *key_rows(model, whole=(MemberConfig,)), ""]
    return "\n".join(lines)


def pages() -> dict[Path, str]:
    folder = ROOT / "docs" / "reference"
    return {folder / "cli.md": cli_page(), folder / "config.md": config_page(), folder / "task-file.md": task_page(),
            folder / "files.md": files_page()}


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = [path for path, text in pages().items() if not path.is_file() or path.read_text() != text]
    if check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run `make docs`")
        return 1 if stale else 0
    for path, text in pages().items():
        path.write_text(text)
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())

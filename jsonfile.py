"""Reading JSON files as the format defines them: Python's json module also accepts NaN, Infinity and
numbers too large for a float (read as inf); those are refused here, as every other JSON reader would."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def read_json(path: Path | str) -> Any:
    """The parsed file; OSError when it cannot be read, ValueError when it is not finite JSON in UTF-8 (or is
    nested too deeply for the parser)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_no_constant,
                          parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def number(value: Any) -> float:
    """A JSON number as a float; TypeError for anything else (a string, a boolean, null)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large for a number")
    return value

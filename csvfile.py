"""Reading CSV files whose fields may be very long (a speckled 2048x2048 mask's RLE is ~400,000 characters):
rows with their line numbers, and every problem of reading as one UserError naming the file and the line."""
from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from errors import UserError

LONGEST_FIELD = 2**31 - 1  # above any RLE string: a 2048x2048 checkerboard needs ~35 MB


def csv_rows(path: Path | str) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) of every row of the UTF-8 CSV at `path` (with or without a byte-order mark), the header
    being line 1."""
    csv.field_size_limit(max(csv.field_size_limit(), LONGEST_FIELD))
    line = 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # a byte-order mark (Excel's) is not text
            for line, fields in enumerate(csv.reader(handle), start=1):
                yield line, fields
    except OSError as err:
        raise UserError(f"cannot read CSV {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except csv.Error as err:
        raise UserError(f"{path} line {line + 1}: {err}") from None

"""Hard voting of submission CSVs in run-length space: no image sizes needed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from atomic import refuse_input_as_output
from errors import UserError
from submit.submission import group_rows, parse_row, read_submission, write_submission

UNBOUNDED = np.iinfo(np.int64).max


def vote_runs(runs: list[tuple[np.ndarray, np.ndarray]], min_votes: int) -> str:
    """Pixels covered by at least `min_votes` of the (starts, lengths) run lists, as an RLE string."""
    starts = np.concatenate([s for s, _ in runs])
    ends = np.concatenate([s + n for s, n in runs])
    if starts.size == 0:
        return ""
    positions, inverse = np.unique(np.concatenate([starts, ends]), return_inverse=True)
    deltas = np.bincount(inverse, weights=np.concatenate([np.ones(len(starts)), -np.ones(len(ends))]),
                         minlength=len(positions))
    covered = np.cumsum(deltas)[:-1] >= min_votes  # count on [positions[i], positions[i+1])
    flags = np.concatenate(([False], covered, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(flags))
    begin, end = positions[edges[0::2]], positions[edges[1::2]]
    return " ".join(f"{b + 1} {e - b}" for b, e in zip(begin.tolist(), end.tolist()))


def hard_vote_csvs(paths: list[str], out: Path | str, min_votes: int, quiet: bool = False) -> None:
    """Write the per-pixel majority (>= min_votes of the CSVs) of several submissions, in the first CSV's class
    order (the others may list their classes in another order)."""
    refuse_input_as_output(out, paths, "--out")
    if not 1 <= min_votes <= len(paths):
        raise UserError(f"--min-votes must be between 1 and the number of CSVs ({len(paths)})")
    tables = []
    for path in paths:
        rows = read_submission(path)
        names = sorted({r.image_name for r in rows})
        classes = tables[0][1] if tables else tuple(dict.fromkeys(r.class_name for r in rows))
        if tables and (names != tables[0][0] or {r.class_name for r in rows} != set(classes)):
            raise UserError(f"{path} covers other images or classes than {paths[0]}")
        tables.append((names, classes, group_rows(rows, classes, names, str(path))))
    names, classes = tables[0][0], tables[0][1]
    with write_submission(out, classes) as writer:
        for name in tqdm(names, desc="vote", unit="img", disable=quiet):
            writer.write_rles(name, [vote_runs([parse_row(t[2][name][c], UNBOUNDED, path)
                                                for t, path in zip(tables, paths)], min_votes)
                                     for c in range(len(classes))])

"""Hard voting of submission CSVs in run-length space: no image sizes needed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from atomic import refuse_input_as_output
from configs.task import SubmissionSpec
from errors import UserError
from submit.submission import COMPETITION, group_rows, parse_row, read_submission, write_submission

UNBOUNDED = np.iinfo(np.int64).max


def vote_runs(runs: list[tuple[np.ndarray, np.ndarray]], min_votes: int, start: int = 1) -> str:
    """Pixels covered by at least `min_votes` of the (0-indexed starts, lengths) run lists, as an RLE string whose
    first pixel is numbered `start`."""
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
    return " ".join(f"{b + start} {e - b}" for b, e in zip(begin.tolist(), end.tolist()))


def hard_vote_csvs(paths: list[str], out: Path | str, min_votes: int, quiet: bool = False,
                   spec: SubmissionSpec = COMPETITION, classes: tuple[str, ...] | None = None) -> None:
    """Write the per-pixel majority (>= min_votes of the CSVs) of several submissions in the conventions of `spec`
    (any RLE order: every CSV flattens alike), in the order of `classes` or else of the first CSV's classes (the
    others may list theirs in another order)."""
    refuse_input_as_output(out, paths, "--out")
    if not 1 <= min_votes <= len(paths):
        raise UserError(f"--min-votes must be between 1 and the number of CSVs ({len(paths)})")
    read = [read_submission(path, spec) for path in paths]
    classes = classes or tuple(dict.fromkeys(r.class_name for r in read[0]))
    every = sorted({r.image_name for rows in read for r in rows})  # a CSV leaving empty masks out may lack an image
    tables = []
    for path, rows in zip(paths, read):
        names = every if spec.empty == "omit" else sorted({r.image_name for r in rows})
        listed = {r.class_name for r in rows}
        other_classes = listed - set(classes) if spec.empty == "omit" else listed != set(classes)
        if other_classes or (tables and names != tables[0][0]):
            raise UserError(f"{path} covers other images or classes than {paths[0]}")
        tables.append((names, group_rows(rows, classes, names, str(path), spec)))
    names = tables[0][0]
    with write_submission(out, classes, spec) as writer:
        for name in tqdm(names, desc="vote", unit="img", disable=quiet):
            writer.write_rles(name, [vote_runs([parse_row(t[1][name][c], UNBOUNDED, path, spec)
                                                for t, path in zip(tables, paths)], min_votes, spec.start)
                                     for c in range(len(classes))])

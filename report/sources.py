"""What `analyze` reads predictions from: submission CSVs, or run folders' OOF probabilities thresholded."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from configs.schema import MemberConfig
from configs.task import SubmissionSpec
from data.resample import resize_plane
from errors import UserError
from models.run_folder import LOG_FILE, RunFolder, check_oof_grid, read_oof, run_label, runs_matching
from submit.submission import decode_row, group_rows, read_submission

OOF_THRESHOLD = 0.5


class CsvSource:
    """A submission CSV: its rows decoded at each labelled image's size."""

    def __init__(self, path: Path, classes: tuple[str, ...], spec: SubmissionSpec):
        self.path, self.label, self.spec = Path(path), Path(path).stem, spec
        rows = read_submission(path, spec)
        self.names = {row.image_name for row in rows}
        if not self.names:
            raise UserError(f"{path}: no rows to analyze")
        self.table = group_rows(rows, classes, self.names, str(path), spec)

    def masks(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        return np.stack([decode_row(row, shape, str(self.path), self.spec) for row in self.table[name]])


class RunsSource:
    """Run folders (a folder or a glob of folds): each image's OOF probabilities > 0.5, resampled to its size."""

    def __init__(self, pattern: str, classes: tuple[str, ...], spec: SubmissionSpec):
        self.runs = [RunFolder(p) for p in runs_matching(pattern, "--runs", need_oof=True)]
        self.label = run_label(pattern)
        self.files: dict[str, Path] = {}
        self.configs: dict[str, MemberConfig] = {}
        for run in self.runs:
            state = run.state()
            run.check_classes(state, classes)
            files = {spec.image_key(name): path for name, path in run.oof_files(state).items()}
            self.files.update(files)
            self.configs.update(dict.fromkeys(files, state.config))
        if not self.files:
            raise UserError(f"--runs {pattern!r}: no OOF probabilities (train-fold writes them when a fold ends)")
        self.names = set(self.files)

    def data_root(self) -> Path:
        return self.runs[0].state().config.data.root

    def masks(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        probs = read_oof(self.files[name], mmap=True)
        check_oof_grid(self.files[name], probs.shape[1:], self.configs[name], shape)
        return np.stack([resize_plane(np.asarray(plane, np.float32), shape) > OOF_THRESHOLD for plane in probs])

    def logs(self) -> list[tuple[str, Path]]:
        """(fold name, log.csv) of every run folder that has one."""
        return [(run.path.name, run.path / LOG_FILE) for run in self.runs if (run.path / LOG_FILE).is_file()]


Source = CsvSource | RunsSource

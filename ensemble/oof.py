"""Out-of-fold probabilities as the tuning commands read them: each entry's OOF files over its folds,
and one class of every entry at a time on each image's OOF grid, with the truth resampled there."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from atomic import refuse_input_as_output
from configs.schema import EnsembleConfig, MemberConfig
from configs.task import MetricSpec
from data import get_task, task_classes, task_name
from data.resample import mask_on_grid, resize_plane
from ensemble.members import expand
from ensemble.thresholds import image_threshold_dice
from errors import UserError
from evaluate.counts import DEFAULT_METRIC, mean_scored
from models.run_folder import RunFolder, check_oof_grid, read_oof

Counts = tuple[int, ...]  # how many times each entry was picked


@dataclass
class OofSources:
    """Per ensemble entry: image name -> OOF file over all its folds, and -> the config of the run that wrote
    it; entry weights; the first run's config (the task and data root every entry shares); the fold each image
    was validated in (by the first entry)."""

    tables: list[dict[str, Path]]
    configs: list[dict[str, MemberConfig]]
    entries: list[str]
    weights: list[float]
    member_config: MemberConfig
    folds: dict[str, int]

    def common_names(self) -> list[str]:
        """The images every entry has OOF probabilities of: all of them, or one line naming the first missing."""
        everything = sorted(set.union(*(set(t) for t in self.tables)))
        for table, entry in zip(self.tables, self.entries):
            missing = next((name for name in everything if name not in table), None)
            if missing is not None:
                raise UserError(f"member {entry!r} has no OOF probabilities of {missing}, which other entries have: "
                                f"its folds cover other images (train every fold on the same splits)")
        return everything


def refuse_among_labels(out: Path, sources: OofSources) -> None:
    """The tuners' output may not land among the labelled images and labels the OOF is scored against."""
    task = get_task(sources.member_config.task, sources.member_config.data.root)
    refuse_input_as_output(out, task.label_folders(task.labelled_cases()), "--out")


def oof_sources(config: EnsembleConfig) -> OofSources:
    """Every entry's OOF files over all its folds, read from its run folders' state."""
    tables, configs, weights, first_config, folds = [], [], [], None, {}
    entries = [entry.path for entry in config.member_entries()]
    repeated = next((path for path in entries if entries.count(path) > 1), None)
    if repeated is not None:
        raise UserError(f"members: {repeated!r} is listed twice (each entry once: weights tune the vote)")
    for entry in config.member_entries():
        table: dict[str, Path] = {}
        written_by: dict[str, MemberConfig] = {}
        for path, _ in expand([entry], need_oof=True):
            run = RunFolder(path)
            state = run.state()
            if (state.task or state.config.task) != task_name(config.task):
                raise UserError(f"member {path} was trained for the {state.task or state.config.task} task; the "
                                f"ensemble config's task is {task_name(config.task)}")
            run.check_classes(state, task_classes(config.task))
            first_config = first_config or state.config
            files = run.oof_files(state)
            table.update(files)
            written_by.update(dict.fromkeys(files, state.config))
            if not tables:
                folds.update({name: state.fold for name in files})
        tables.append(table)
        configs.append(written_by)
        weights.append(entry.weight)
    return OofSources(tables, configs, entries, weights, first_config, folds)


@dataclass
class ClassOof:
    """One class's OOF over every image, pixels of all images concatenated."""

    planes: np.ndarray  # (entries, pixels) float32 probabilities
    truth: np.ndarray  # (pixels,) bool
    image: np.ndarray  # (pixels,) index of each pixel's image
    images: int
    metric: MetricSpec = field(default_factory=lambda: DEFAULT_METRIC)
    ignore: np.ndarray | None = None  # (pixels,) bool: pixels a label map ignores (None: none)
    _dice: dict[Counts, np.ndarray] = field(default_factory=dict)

    def dice(self, counts: Counts) -> np.ndarray:
        """(images, thresholds) Dice of the vote weighted by `counts`, computed once per counts."""
        if counts not in self._dice:
            weights = np.asarray(counts, np.float32) / sum(counts)
            vote = np.tensordot(weights, self.planes, axes=1)
            self._dice[counts] = image_threshold_dice(vote, self.truth, self.image, self.images, metric=self.metric,
                                                      ignore=self.ignore)
        return self._dice[counts]

    def mean_dice(self, counts: Counts, rows: np.ndarray) -> np.ndarray:
        """(thresholds,) mean Dice over the images in `rows`."""
        return mean_scored(self.dice(counts)[rows], 0)

    @property
    def entries(self) -> int:
        """How many entries vote."""
        return len(self.planes)

    def image_votes(self, counts: Counts, grids: list[tuple[int, int]]
                    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray | None]]:
        """Per image, on its OOF grid: the vote weighted by `counts`, the truth, and the ignored pixels (None where
        there are none)."""
        weights = np.asarray(counts, np.float32) / sum(counts)
        vote = np.tensordot(weights, self.planes, axes=1)
        bounds = np.cumsum([0] + [h * w for h, w in grids])
        spans = list(zip(bounds[:-1], bounds[1:], grids))
        ignores = [None if self.ignore is None else self.ignore[a:b].reshape(g) for a, b, g in spans]
        return [vote[a:b].reshape(g) for a, b, g in spans], [self.truth[a:b].reshape(g) for a, b, g in spans], ignores


class OofReader:
    """Each image's truth on its OOF grid, read once; then one class's OOF of every entry at a time."""

    def __init__(self, sources: OofSources, names: list[str], quiet: bool):
        """Read the truth of `names` on the grid of their largest OOF file among the entries of `sources`."""
        self.sources, self.names = sources, names
        task = get_task(sources.member_config.task, sources.member_config.data.root)
        cases = task.cases_by_name(task.labelled_cases())
        self.classes, self.metric = task.classes, task.spec.metric
        self.groups = [task.group(cases[name]) for name in names]  # the task's groups (patients, say)
        self.grids, self.truths, self.ignores = [], [], []
        for name in tqdm(names, desc="truth", unit="img", disable=quiet):
            labels = task.read_labels(cases[name])
            grid = max((self.oof_grid(name, entry, labels.masks.shape[1:]) for entry in range(len(sources.tables))),
                       key=lambda shape: shape[0] * shape[1])
            self.grids.append(grid)
            self.truths.append([np.packbits(mask_on_grid(plane, grid)) for plane in labels.masks])
            self.ignores.append(None if labels.ignore is None else np.packbits(mask_on_grid(labels.ignore, grid)))

    def oof_grid(self, name: str, entry: int, image_shape: tuple[int, int]) -> tuple[int, int]:
        """The (h, w) of an entry's OOF file of image `name`, checked against the grid its member predicts on."""
        path = self.sources.tables[entry][name]
        found = read_oof(path, mmap=True).shape[1:]
        check_oof_grid(path, found, self.sources.configs[entry][name], image_shape)
        return found

    def read_class(self, channel: int) -> ClassOof:
        """One class of every entry's OOF, every image on its grid, pixels concatenated."""
        planes, truth, image, ignore = [], [], [], []
        for index, (name, grid) in enumerate(zip(self.names, self.grids)):
            planes.append(np.stack([resize_plane(read_oof(table[name], mmap=True)[channel].astype(np.float32), grid)
                                    for table in self.sources.tables]).reshape(len(self.sources.tables), -1))
            pixels = grid[0] * grid[1]
            truth.append(np.unpackbits(self.truths[index][channel], count=pixels).astype(bool))
            image.append(np.full(pixels, index, np.int32))
            packed = self.ignores[index]
            plane = np.zeros(pixels, bool) if packed is None else np.unpackbits(packed, count=pixels).astype(bool)
            ignore.append(plane)
        any_ignored = any(packed is not None for packed in self.ignores)
        return ClassOof(np.concatenate(planes, 1), np.concatenate(truth), np.concatenate(image), len(self.names),
                        self.metric, np.concatenate(ignore) if any_ignored else None)

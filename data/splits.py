"""k-fold splits persisted as splits.json so every member sees the same folds."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from sklearn.model_selection import GroupKFold, KFold

import atomic
from data.kvasir import KvasirTask
from data.task import Task
from errors import UserError
from jsonfile import read_json
from names import DEFAULT_SPLIT_METHOD, SplitMethod, TaskName, choices


@dataclass(frozen=True)
class Fold:
    train: list[str]
    val: list[str]


@dataclass(frozen=True)
class Splits:
    task: str
    method: str
    seed: int
    k: int
    folds: list[Fold]

    def fold(self, index: int) -> Fold:
        if not 0 <= index < len(self.folds):
            raise UserError(f"fold {index} does not exist: the splits have {len(self.folds)} folds "
                            f"(0..{len(self.folds) - 1})")
        return self.folds[index]


def make_splits(task: Task, k: int = 5, seed: int = 0, method: str | None = None) -> Splits:
    """Group k-fold by the task's groups, shuffled seeded k-fold, or the Kvasir release split."""
    method = method or DEFAULT_SPLIT_METHOD[task.name]
    if method not in choices(SplitMethod):
        raise UserError(f"unknown split method {method!r}; choose one of {', '.join(choices(SplitMethod))}")
    method = SplitMethod(method)
    if method == SplitMethod.RELEASE:
        if not isinstance(task, KvasirTask):
            raise UserError(f"split method {method!r} exists only for {TaskName.KVASIR}, not {task.name}")
        train, val = task.release_split()
        return Splits(task.name, method, seed, 1, [Fold(train, val)])
    cases = task.labelled_cases()
    groups = [task.group(c) for c in cases]
    n_groups = len(set(groups)) if method == SplitMethod.GROUP_KFOLD else len(cases)
    if not 2 <= k <= n_groups:
        unit = "groups" if method == SplitMethod.GROUP_KFOLD else "cases"
        raise UserError(f"--k {k} needs 2 <= k <= {n_groups} ({unit})")
    if method == SplitMethod.GROUP_KFOLD:
        indices = GroupKFold(n_splits=k).split(cases, groups=groups)
    else:
        indices = KFold(n_splits=k, shuffle=True, random_state=seed).split(cases)
    folds = [Fold([cases[i] for i in train], [cases[i] for i in val]) for train, val in indices]
    return Splits(task.name, method, seed, k, folds)


def write_splits(splits: Splits, path: Path | str) -> None:
    atomic.write_text(path, json.dumps(asdict(splits), indent=1))


def case_list(value) -> list:
    if not isinstance(value, list):
        raise TypeError(f"a train or val entry is a {type(value).__name__}, not a list of cases")
    return value


def read_splits(path: Path | str) -> Splits:
    path = Path(path)
    try:
        raw = read_json(path)
        splits = Splits(raw["task"], raw["method"], int(raw["seed"]), int(raw["k"]),
                        [Fold(case_list(f["train"]), case_list(f["val"])) for f in raw["folds"]])
    except OSError:
        raise UserError(f"cannot read splits file: {path}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"bad splits file {path}: {type(err).__name__}: {err}") from None
    for index, fold in enumerate(splits.folds):
        if not all(isinstance(case, str) for case in fold.train + fold.val):
            raise UserError(f"bad splits file {path}: fold {index} lists a case that is not a string")
        if not fold.train or not fold.val:
            empty = "train" if not fold.train else "val"
            raise UserError(f"bad splits file {path}: fold {index} has an empty {empty} list")
        for part, cases in (("train", fold.train), ("val", fold.val)):
            twice = next((case for case, n in Counter(cases).items() if n > 1), None)
            if twice is not None:
                raise UserError(f"bad splits file {path}: fold {index} lists {twice!r} twice in its {part} list")
    return splits

"""k-fold splits persisted as splits.json so every member sees the same folds."""
from __future__ import annotations

from pathlib import Path

from sklearn.model_selection import GroupKFold, KFold

from configs.files import Fold, Splits, read_model, write_model
from data.task import Task
from errors import UserError
from names import SplitMethod, choices


def make_splits(task: Task, k: int = 5, seed: int = 0, method: str | None = None,
                cases: list[str] | None = None) -> Splits:
    """Group k-fold by the task's groups or k-fold over cases (both shuffled by `seed`), or the task's release
    split; by default the task file's method. `cases`: the task's labelled cases, if the caller listed them."""
    method = method or task.spec.groups.default_method()
    if method not in choices(SplitMethod):
        raise UserError(f"unknown split method {method!r}; choose one of {', '.join(choices(SplitMethod))}")
    method = SplitMethod(method)
    if method == SplitMethod.RELEASE:
        train, val = task.release_split()
        return Splits(task=task.name, method=method, seed=seed, k=1, folds=[Fold(train=train, val=val)])
    cases = task.labelled_cases() if cases is None else cases
    groups = [task.group(c) for c in cases]
    n_groups = len(set(groups)) if method == SplitMethod.GROUP_KFOLD else len(cases)
    if not 2 <= k <= n_groups:
        unit = "groups" if method == SplitMethod.GROUP_KFOLD else "cases"
        raise UserError(f"--k {k} needs 2 <= k <= {n_groups} ({unit})")
    if method == SplitMethod.GROUP_KFOLD:
        indices = GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(cases, groups=groups)
    else:
        indices = KFold(n_splits=k, shuffle=True, random_state=seed).split(cases)
    folds = [Fold(train=[cases[i] for i in train], val=[cases[i] for i in val]) for train, val in indices]
    return Splits(task=task.name, method=method, seed=seed, k=k, folds=folds)


def write_splits(splits: Splits, path: Path | str) -> None:
    """Write `splits` as splits.json at `path` (atomically)."""
    write_model(path, splits)


def read_splits(path: Path | str) -> Splits:
    """The splits.json at `path`, validated; any problem is one line naming the file."""
    return read_model(path, Splits, "splits file")

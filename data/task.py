"""The Task seam: a data root read as its task file says; everything downstream sees classes, cases, images, masks
and groups, never which task it is."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

import atomic
from configs.task import TaskSpec, builtin_tasks, load_task_spec
from data.formats import FORMATS, Labels
from data.images import IMAGE_SUFFIXES, image_size, list_images, read_image
from data.preprocess import Preprocess, no_preprocess
from errors import UserError
from names import ROOT_SEPARATOR


class Task:
    """A dataset root read as a task file describes it. Cases are image paths relative to the root."""

    def __init__(self, spec: TaskSpec, root: Path | str, preprocess: Preprocess = no_preprocess):
        """The data root `root` read as `spec` says, its images through `preprocess`; a root that is no folder is one
        line."""
        self.spec, self.root, self.preprocess = spec, Path(root), preprocess
        if not self.root.is_dir():
            raise UserError(f"data root is not a folder: {self.root}")
        self.name, self.classes = spec.name, tuple(spec.classes)
        self.every_image_holds_every_class = spec.every_image_holds_every_class
        self.labels = FORMATS[spec.labels.format](spec, self.root)
        self.suffixes = tuple(spec.images.suffixes or IMAGE_SUFFIXES)
        self.pattern = re.compile(spec.groups.pattern) if spec.groups.pattern else None

    def train_folders(self) -> list[Path]:
        """The labelled image folders present under the root: those with their labels, else every one present
        (whose images then lack labels, which `labelled_cases` names)."""
        present = [index for index, folder in enumerate(self.spec.images.train) if (self.root / folder).is_dir()]
        chosen = [index for index in present if self.labels.present(index)] or present
        if not chosen:
            raise UserError(f"no labelled images under {self.root}: expected {self.spec.images.train[0]}/ with "
                            f"its {self.spec.labels.format} labels ({self.labels_where()})")
        return [self.root / self.spec.images.train[index] for index in chosen]

    def labels_where(self) -> str:
        """Where the labels are (their file, or their folders), for messages."""
        labels = self.spec.labels
        return labels.file if labels.file else ", ".join(labels.folder or [])

    def labelled_cases(self) -> list[str]:
        """Relative paths of every labelled image, sorted."""
        cases = []
        for folder in self.train_folders():
            images = [p for p in list_images(folder, self.suffixes) if not self.labels.is_label_file(p)]
            images = one_per_stem(images, "image")
            cases += [p.relative_to(self.root).as_posix() for p in images]
        cases = require_nonempty(sorted(cases), self.root)
        if self.spec.images.unique_names:
            self.cases_by_name(cases)
        self.labels.check_pairing(cases)
        return cases

    def test_folder(self) -> Path:
        """The folder whose images (at any depth) are the test images: no output may be written inside it."""
        for folder in self.spec.images.test:
            if (self.root / folder).is_dir():
                return (self.root / folder) if folder != "." else self.root
        raise UserError(f"no test image folder under {self.root}: expected one of {', '.join(self.spec.images.test)}")

    def test_images(self) -> list[str]:
        """Relative paths of the unlabelled images to predict, sorted."""
        folder = self.test_folder()
        images = [p for p in list_images(folder, self.suffixes) if not self.labels.is_label_file(p)]
        images = one_per_stem(images, "test image")  # their PNG masks would collide
        cases = require_nonempty([p.relative_to(self.root).as_posix() for p in images], folder)
        self.cases_by_key(cases)
        return cases

    def label_path(self, case: str) -> Path:
        """The label file (mask, label map, polygons, or the one file of all labels) of a labelled case."""
        return self.labels.label_path(case)

    def read_labels(self, case: str) -> Labels:
        """A labelled case's masks (CxHxW bool) and ignored pixels, at its image's size as shown."""
        return self.labels.read(case, image_size(self.root / case))

    def read_mask(self, case: str) -> np.ndarray:
        """CxHxW bool mask of a labelled case."""
        return self.read_labels(case).masks

    @property
    def target_channels(self) -> int:
        """Channels of a training target: the classes, and one of ignored pixels where the labels have them."""
        return len(self.classes) + (self.spec.labels.ignore is not None)

    def read_target(self, case: str) -> np.ndarray:
        """The training target of a labelled case: its CxHxW masks, then (where the labels have an ignore value) an
        HxW plane of the pixels the loss leaves out."""
        labels = self.read_labels(case)
        if self.target_channels == len(self.classes):
            return labels.masks
        ignore = np.zeros(labels.masks.shape[1:], bool) if labels.ignore is None else labels.ignore
        return np.concatenate([labels.masks, ignore[None]])

    def check_case(self, case: str) -> None:
        """Refuse in one line, from headers and labels alone, a case that cannot be read as it is shown."""
        self.labels.check(case, image_size(self.root / case))

    def group(self, case: str) -> str:
        """Cases of one group always land in the same fold: the task's `groups.pattern` over the case's path."""
        if self.pattern is None:
            return case
        match = self.pattern.search(case)
        if match is None:
            raise UserError(f"groups.pattern {self.pattern.pattern!r} of task {self.name} does not match {case!r}: "
                            f"it groups nothing there")
        return match.group(1) if self.pattern.groups else match.group(0)

    def release_split(self) -> tuple[list[str], list[str]]:
        """The task's fixed split by path prefix: (train cases, validation cases)."""
        release = self.spec.groups.release
        if release is None:
            having = [name for name in builtin_tasks() if load_task_spec(name).groups.release is not None]
            raise UserError(f"split method 'release' exists only for {', '.join(having) or 'tasks with one'}, not "
                            f"{self.name}: its task file has no groups.release")
        cases = self.labelled_cases()
        train = [c for c in cases if c.startswith(release.train)]
        val = [c for c in cases if c.startswith(release.val)]
        if not train or not val:
            raise UserError(f"{self.root} has no {release.train} and {release.val} release split")
        return train, val

    def write_labels(self, root: Path) -> CaseWriter:
        """A writer of test images with their masks as labelled cases of this task under `root`."""
        return CaseWriter(self, root)

    def path(self, case: str) -> Path:
        """The image file of a case."""
        return self.root / case

    def label_folders(self, cases: list[str]) -> list[Path]:
        """The folders holding these labelled cases' images and labels, and every folder between them and the
        root (`train/outputs_json` as well as `train/outputs_json/ID001`): no output may be written among them."""
        folders = set()
        for case in cases:
            for file in (self.path(case), self.label_path(case)):
                folders.update(folder for folder in (file.parent, *file.parent.parents)
                               if folder != self.root and folder.is_relative_to(self.root))
        return sorted(folders)

    def read_image(self, case: str) -> np.ndarray:
        """HxWx3 uint8 RGB image of a case (labelled or test), through the task's preprocessing."""
        return self.preprocess(read_image(self.root / case))

    def check_cases(self, cases: list[str], source: str) -> None:
        """Before any work: every case `source` names is a labelled case of this root, and readable."""
        known = set(self.labelled_cases())
        stranger = next((c for c in cases if c not in known), None)
        if stranger is not None and ROOT_SEPARATOR in str(stranger):
            raise UserError(f"{source} names {stranger!r}, a case of the data root "
                            f"{str(stranger).partition(ROOT_SEPARATOR)[0]!r}, which data.extra_roots does not have")
        if stranger is not None:
            raise UserError(f"{source} names {stranger!r}, which is not a labelled image under {self.root}")
        for case in cases:
            self.check_case(case)

    def image_key(self, case: str) -> str:
        """How the submission CSV names a case's image (its file name or stem)."""
        return self.spec.submission.image_key(case)

    def cases_by_name(self, cases: list[str]) -> dict[str, str]:
        """Map base name (what OOF files are named by) -> case, refusing duplicate base names."""
        return unique_keys(cases, lambda case: Path(case).name)

    def cases_by_key(self, cases: list[str]) -> dict[str, str]:
        """Map the submission's image name (file name or stem) -> case, refusing two cases of one name."""
        return unique_keys(cases, self.image_key)

    def test_image_sizes(self) -> dict[str, tuple[int, int]]:
        """The submission's image name -> (H, W) of every test image, in the CSV's order."""
        by_name = self.cases_by_key(self.test_images())
        return {name: image_size(self.root / case) for name, case in by_name.items()}


class CaseWriter:
    """Writes images of a task's root with their masks as labelled cases of its layout under another root."""

    def __init__(self, task: Task, root: Path):
        """Write cases of `task` (its test images) with their masks under `root`."""
        self.task, self.root = task, root
        self.labels = task.labels.writer(root)

    def add(self, case: str, masks: np.ndarray) -> str:
        """The image of `case` (its bytes, under the first `images.train` folder, its path below the test folder
        kept) and its CxHxW `masks`; returns its case under the writer's root."""
        source = self.task.path(case)
        below = source.relative_to(self.task.test_folder()) if source.is_relative_to(self.task.test_folder()) \
            else Path(source.name)
        target = (Path(self.task.spec.images.train[0]) / below).as_posix()
        atomic.write_bytes(self.root / target, source.read_bytes())
        self.labels.add(target, masks)
        return target

    def close(self) -> None:
        """Finish the labels (the one file of one-file formats)."""
        self.labels.close()


def unique_keys(cases: list[str], key: Callable[[str], str]) -> dict[str, str]:
    """Map key -> case, refusing two cases of one key in one line."""
    counts = Counter(key(c) for c in cases)
    duplicated = [name for name, n in counts.items() if n > 1]
    if duplicated:
        first = sorted(c for c in cases if key(c) == duplicated[0])
        raise UserError(f"duplicate image name {duplicated[0]!r}: {', '.join(first)}")
    return {key(c): c for c in cases}


def one_per_stem(paths: list[Path], what: str) -> list[Path]:
    """`paths`, refusing two files of one folder that differ only in their suffix (`13.jpg`, `13.png`): which
    one is meant cannot be guessed."""
    seen: dict[tuple[Path, str], Path] = {}
    for path in paths:
        twin = seen.setdefault((path.parent, path.stem), path)
        if twin != path:
            raise UserError(f"two {what} files for one name: {twin} and {path}: keep one")
    return paths




def require_nonempty(items: list[str], folder: Path) -> list[str]:
    """`items`, or one line saying `folder` holds no images."""
    if not items:
        raise UserError(f"no images found in {folder}")
    return items

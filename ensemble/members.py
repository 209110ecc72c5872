"""Members: trained run folders loaded from `model.safetensors` + `state.json` alone."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import atomic
from configs.schema import EnsembleConfig, EnsembleMember, MemberConfig
from data.preprocess import Preprocess, build_preprocess, no_preprocess
from ensemble.vote import Weight
from errors import UserError
from models import build_model
from models.predictors import Predictor, as_voted, build_predictor
from models.pretrained import update_with_file
from models.run_folder import MODEL_FILE, RunFolder, runs_matching

Precision = torch.dtype | None | str  # "member": each member's own train.amp


@dataclass
class Member:
    """A loaded member: its run folder, config, predictor (with its TTA), vote weight and cache key."""
    run: RunFolder
    config: MemberConfig
    predictor: Predictor
    weight: Weight
    cache_key: str
    preprocess: Preprocess = no_preprocess  # the member's own `data.preprocess`

    def predict_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Probabilities of the task's images, each first preprocessed as the member was trained."""
        return self.predictor.predict_batch([self.preprocess(image) for image in images])

    @property
    def name(self) -> str:
        """'<run folder>/fold<k>': how messages and tables name the member."""
        return f"{self.run.path.parent.name}/{self.run.path.name}"


def expand(entries: list[EnsembleMember], need_oof: bool = False) -> list[tuple[Path, EnsembleMember]]:
    """Run folders named by each entry (a folder or a glob), in sorted order."""
    return [(path, entry) for entry in entries for path in runs_matching(entry.path, "member", need_oof)]


def ensemble_inputs(config: EnsembleConfig) -> list[Path]:
    """The files and run folders an ensemble config makes a command read (its weights and thresholds files,
    every member's folder): no output may be one or lie inside one. The data root is checked by each command
    as far as its outputs could land among the images (`check_outputs`, `pseudo-label`)."""
    files = [p for p in (config.weights, config.thresholds) if isinstance(p, Path)]
    return [*files, *(path for path, _ in expand(config.member_entries()))]


def load_member(path: Path, entry: EnsembleMember, device: torch.device, classes: tuple[str, ...],
                weight: Weight, precision: Precision = "member") -> Member:
    """Rebuild a member's network from its state.json and load the weights it kept (train.checkpoint)."""
    run = RunFolder(path)
    state = run.state()
    run.check_classes(state, classes)
    config = state.config
    model = build_model(config.model, len(classes), with_pretrained=False)
    run.load_weights(model)
    model.to(device)
    tta, scales = entry.tta or config.model.tta, tuple(entry.tta_scales or config.model.tta_scales)
    predictor = build_predictor(config, model, device, tta, precision, scales)
    preprocess = no_preprocess if entry.skip_preprocess else build_preprocess(config.data.preprocess)
    key = member_key(path / MODEL_FILE, config, tta, scales, predictor.precision, device, preprocess is no_preprocess)
    return Member(run, config, predictor, weight, key, preprocess)


def member_key(weights: Path, config: MemberConfig, tta: str, scales: tuple[float, ...],
               precision: torch.dtype | None, device: torch.device, unprocessed: bool = False) -> str:
    """Identifies what a member predicts, and only that: its weights' bytes, the config keys prediction reads
    (`model`, the input size and sampling, the preprocessing unless skipped), its TTA and scales, its precision
    and the device type (CUDA and CPU kernels round differently). Paths, training keys and names are left out."""
    digest = update_with_file(hashlib.sha256(), weights)
    preprocess = [] if unprocessed else [step.model_dump(mode="json") for step in config.data.preprocess]
    read = {"model": config.model.model_dump(mode="json"), "image_size": config.data.image_size,
            "sampling": config.data.sampling.value, "preprocess": preprocess, "tta": str(tta), "scales": list(scales),
            "precision": str(precision), "device": device.type}
    digest.update(json.dumps(read, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def normalised(weights: list[Weight], classes: int) -> list[np.ndarray]:
    """Per-class member weights divided by their per-class sum in float64, then float32: relative weights of any
    magnitude (1e-50 included) vote as they say instead of underflowing to an empty mask."""
    rows = np.stack([np.broadcast_to(np.asarray(w, np.float64), (classes,)) for w in weights])
    total = rows.sum(0)
    return list((rows / np.where(total > 0, total, 1)).astype(np.float32))


def load_members(entries: list[EnsembleMember], device: torch.device, classes: tuple[str, ...],
                 class_weights: np.ndarray | None = None, precision: Precision = "member") -> list[Member]:
    """Every run folder of every entry, weighted by the entry's `weight`; with `class_weights`
    (entries x classes) an entry's folds share its row instead, and entries weighing 0 everywhere are skipped."""
    members = []
    for index, entry in enumerate(entries):
        paths = [path for path, _ in expand([entry])]
        weight = entry.weight if class_weights is None else class_weights[index] / len(paths)
        if np.any(np.asarray(weight) > 0):
            members += [load_member(path, entry, device, classes, weight, precision) for path in paths]
    for member, weight in zip(members, normalised([m.weight for m in members], len(classes))):
        member.weight = weight
    return members


class ProbabilityCache:
    """Each member's probabilities per image, on the member's own grid in float16, keyed by content (the member's
    key and the image's pixels), so re-voting skips the models. Invisible: the vote takes every member's
    probabilities rounded to float16 with or without a cache, so a CSV is the same byte for byte either way. A
    full-size (sliding-window, YOLO) member's entries are full-size: 2 bytes per pixel and class."""

    def __init__(self, folder: Path | None):
        """Keep probabilities under `folder` (None: predict every time, keep nothing)."""
        self.folder = folder
        if folder is not None:
            atomic.keep(folder)  # what an interrupted run stored saves the next one the models

    def predict_batch(self, member: Member, images: list[np.ndarray]) -> list[np.ndarray]:
        """The member's probabilities of `images`, from the cache where it holds them, else predicted (and kept)."""
        if self.folder is None:
            return [as_voted(probs) for probs in member.predict_batch(images)]
        folder = self.folder / member.cache_key
        paths = [folder / f"{image_key(image)}.npy" for image in images]
        missing = [i for i, path in enumerate(paths) if not path.is_file()]
        if missing:
            for i, probs in zip(missing, member.predict_batch([images[i] for i in missing])):
                atomic.save_array(paths[i], probs.astype(np.float16))
        return [read_cached(path) for path in paths]


def image_key(image: np.ndarray) -> str:
    """A content key of one image: its pixels and shape, whatever its name."""
    return hashlib.blake2b(image.tobytes() + str(image.shape).encode(), digest_size=16).hexdigest()


def read_cached(path: Path) -> np.ndarray:
    """A cached member prediction as float32, or one line naming the damaged entry."""
    try:
        return np.load(path, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError, EOFError):
        raise UserError(f"corrupt cache entry {path}: delete it (or the cache folder) and re-run") from None

"""Members: trained run folders loaded from `model.safetensors` + `state.json` alone."""
from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import atomic
from configs.schema import EnsembleMember, MemberConfig, validate_config
from errors import UserError
from models import build_model
from models.predictors import Predictor, build_predictor
from models.run_folder import MODEL_FILE, STATE_FILE, RunFolder


@dataclass
class Member:
    run: RunFolder
    config: MemberConfig
    predictor: Predictor
    weight: float
    cache_key: str

    @property
    def name(self) -> str:
        return f"{self.run.path.parent.name}/{self.run.path.name}"


def expand(entries: list[EnsembleMember]) -> list[tuple[Path, EnsembleMember]]:
    """Run folders named by each entry (a folder or a glob), in sorted order."""
    out = []
    for entry in entries:
        matches = sorted(Path(p) for p in glob.glob(entry.path) if (Path(p) / STATE_FILE).is_file())
        if not matches:
            raise UserError(f"member {entry.path!r} matches no run folder with a {STATE_FILE}")
        out += [(path, entry) for path in matches]
    return out


def load_member(path: Path, entry: EnsembleMember, device: torch.device, classes: tuple[str, ...]) -> Member:
    """Rebuild a member's network from its state.json and load its best weights."""
    run = RunFolder(path)
    state = run.read_state()
    config = validate_config(state.get("config", {}), MemberConfig, str(path / STATE_FILE))
    if tuple(state.get("classes", ())) != classes:
        raise UserError(f"member {path} was trained for other classes than this ensemble's task")
    model = build_model(config.model, len(classes), with_pretrained=False)
    run.load_weights(model)
    model.to(device)
    weights = path / MODEL_FILE
    tta = entry.tta or config.model.tta
    key = hashlib.sha256(f"{weights.resolve()}:{weights.stat().st_mtime_ns}:{tta}".encode()).hexdigest()[:16]
    return Member(run, config, build_predictor(config, model, device, tta), entry.weight, key)


def load_members(entries: list[EnsembleMember], device: torch.device, classes: tuple[str, ...]) -> list[Member]:
    return [load_member(path, entry, device, classes) for path, entry in expand(entries)]


class ProbabilityCache:
    """Float16 grid probabilities per member and image, so re-voting skips the models."""

    def __init__(self, folder: Path | None):
        self.folder = folder

    def predict(self, member: Member, image_name: str, image: np.ndarray) -> np.ndarray:
        if self.folder is None:
            return member.predictor.predict(image)
        path = self.folder / member.cache_key / f"{image_name}.npy"
        if path.is_file():
            return np.load(path).astype(np.float32)
        probs = member.predictor.predict(image)
        atomic.save_array(path, probs.astype(np.float16))
        return probs

"""`ensemble`: stream test images through every member, soft-vote, threshold, write the CSV."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from atomic import atomic_path
from configs.schema import EnsembleConfig
from data import get_task
from data.images import write_image_atomic
from ensemble.members import Member, ProbabilityCache, load_members
from ensemble.thresholds import resolve_thresholds
from ensemble.vote import grid_means, vote_masks
from errors import UserError
from models.device import pick_device
from submit.rle import encode
from submit.score import test_image_sizes, validate_rows
from submit.submission import SubmissionWriter, read_submission


def member_votes(members: list[Member], cache: ProbabilityCache, name: str, image: np.ndarray):
    """(probabilities on the member's grid, weight) for every member."""
    return [(cache.predict(m, name, image), m.weight) for m in members]


def run_ensemble(config: EnsembleConfig, quiet: bool = False) -> Path:
    """Write the submission CSV (and PNG masks for single-class tasks); return the CSV path."""
    task = get_task(config.task, config.data.root)
    cases = task.test_images()
    members = load_members(config.member_entries(), pick_device(config.device), task.classes)
    thresholds = resolve_thresholds(config.thresholds, task.classes)
    cache = ProbabilityCache(config.cache_dir)
    masks_dir = config.output.masks_dir
    if masks_dir is None and len(task.classes) == 1:
        masks_dir = config.output.csv.with_name(config.output.csv.stem + "_masks")
    out = Path(config.output.csv)
    with atomic_path(out) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = SubmissionWriter(handle, task.classes)
            for case in tqdm(cases, desc="ensemble", unit="img", disable=quiet):
                name = Path(case).name
                image = task.read_image(case)
                grids = grid_means(member_votes(members, cache, name, image))
                masks = list(vote_masks(grids, image.shape[:2], thresholds))
                writer.write_rles(name, [encode(m) for m in masks])
                if masks_dir is not None and len(masks) == 1:
                    write_image_atomic(Path(masks_dir) / f"{Path(name).stem}.png", masks[0].astype(np.uint8) * 255)
        try:
            validate_rows(read_submission(tmp), task.classes, test_image_sizes(task), str(out))
        except UserError as err:
            raise UserError(f"internal error, the written CSV failed validation: {err}") from None
    return out

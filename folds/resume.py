"""What `--resume` may change. Paths, caching, devices, workers, threads, logging and the size of the OOF
files (rewritten when the run ends) may; every other config key shapes the weights or the choice of the
best epoch and is frozen, new keys included."""
from __future__ import annotations

from pydantic import BaseModel

from configs.files import RunState
from errors import UserError
from models.run_folder import RunFolder

MAY_CHANGE = ("data.root", "data.extra_roots", "data.splits", "data.cache", "data.workers", "train.device",
              "train.threads", "train.oof_size", "run.")


def frozen_settings(config: BaseModel) -> dict[str, object]:
    """Every config key but those that may change, flattened to `section.key`."""
    raw = config.model_dump(mode="json")
    flat = {f"{section}.{key}": value for section, values in raw.items() if isinstance(values, dict)
            for key, value in values.items()}
    flat.update({section: value for section, value in raw.items() if not isinstance(value, dict)})
    return {key: value for key, value in flat.items()
            if not any(key == allowed or (allowed.endswith(".") and key.startswith(allowed)) for allowed in MAY_CHANGE)}


def check_resume(run: RunFolder, started: RunState, config: BaseModel, data_hash: str, world_size: int,
                 precision: str = "") -> None:
    """Refuse to resume with other data, another number of processes, another device type or autocast dtype
    (`train.device` or `amp_dtype: auto` may resolve otherwise on another machine), or another frozen setting."""
    if started.data_hash != data_hash:
        raise UserError(f"cannot resume {run.path}: its data (splits or files) changed since it started")
    if started.world_size != world_size:
        raise UserError(f"cannot resume {run.path}: it started with world_size {started.world_size} processes, "
                        f"now {world_size}; resume with as many")
    before, now = frozen_settings(started.config), frozen_settings(config)
    changed = next((key for key in sorted(before.keys() | now.keys()) if before.get(key) != now.get(key)), None)
    if changed is not None:
        raise UserError(f"cannot resume {run.path}: {changed} was {before.get(changed)!r} when the run started, "
                        f"now {now.get(changed)!r}")
    if started.precision and precision and started.precision != precision:
        raise UserError(f"cannot resume {run.path}: it trained as {started.precision} (device type/precision), "
                        f"now it would run as {precision}; set train.device and train.amp_dtype to match")

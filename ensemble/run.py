"""`ensemble`: the whole test set in one process, one `--shard` of it, or every shard at once under torchrun."""
from __future__ import annotations

from pathlib import Path

from configs.schema import EnsembleConfig
from ensemble.predict import predict_submission
from ensemble.shards import Shard
from ensemble.torchrun import run_under_torchrun
from errors import UserError
from models import distributed
from models.device import pick_device


def run_ensemble(config: EnsembleConfig, quiet: bool = False, shard: Shard | None = None) -> Path:
    """Write the submission CSV (and PNG masks for single-class tasks); return the CSV path.

    With `shard`, only that shard's images, and a sidecar for `merge`. Launched by torchrun, each process
    takes shard RANK/WORLD_SIZE and rank 0 writes the whole CSV."""
    device = pick_device(config.device, key="device")
    processes = distributed.start(device)
    try:
        if not processes.distributed:
            return predict_submission(config, device, quiet, shard)
        if shard is not None:
            raise UserError("--shard: under torchrun every process already takes shard RANK/WORLD_SIZE; drop --shard")
        return run_under_torchrun(config, processes, device, quiet)
    finally:
        distributed.stop(processes)

"""Training and ensembles under `torchrun`: the process group, this process's rank, and reductions across ranks.

Without torchrun (no WORLD_SIZE in the environment, or 1) nothing here touches torch.distributed."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Processes:
    """This process's place in a torchrun job (rank, world size, local rank) and collectives over it."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    def share(self, items: list) -> list:
        """This rank's share of a list: every world_size-th item from the rank-th."""
        return items[self.rank::self.world_size]

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process on a node; the CPU stays the CPU."""
        return torch.device("cuda", self.local_rank) if self.distributed and device.type == "cuda" else device

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum over ranks (float64)."""
        if not self.distributed:
            return values
        tensor = torch.as_tensor(np.asarray(values, np.float64))
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda(self.local_rank)
        dist.all_reduce(tensor)
        return tensor.cpu().numpy()

    def failed_ranks(self, failed: bool) -> list[int]:
        """Every rank says whether it failed; all learn which did (a collective: every rank must call it)."""
        flags = np.zeros(self.world_size)
        flags[self.rank] = float(failed)
        return [int(rank) for rank in np.flatnonzero(self.sum(flags))]

    def barrier(self) -> None:
        """Wait for every process (a no-op alone)."""
        if self.distributed:
            dist.barrier()


def is_main_process() -> bool:
    """Rank 0 under torchrun, and any process launched without it."""
    return int(os.environ.get("RANK", "0")) == 0


def start(device: torch.device) -> Processes:
    """Join torchrun's process group (gloo on the CPU, nccl on CUDA) when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Processes()
    processes = Processes(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(processes.local_rank)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return processes


def stop(processes: Processes) -> None:
    """Leave the process group, if one was started."""
    if processes.distributed and dist.is_initialized():
        dist.destroy_process_group()

"""The training DataLoader of one epoch: every (epoch, rank, worker) draws its own augmentation and crop stream,
derived from `train.seed`, so no two workers or processes repeat each other's draws and a resumed run draws
what an uninterrupted one would."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info

MAIN_PROCESS = -1  # the stream of `num_workers: 0`, where the main process draws the samples itself


def stream_seed(seed: int, epoch: int, rank: int, worker: int) -> int:
    """A 63-bit seed for one (epoch, rank, worker) stream of the run seeded `seed` (numpy's SeedSequence)."""
    entropy = [seed, epoch, rank, worker + 1]  # worker -1 (the main process) -> 0: every entry stays non-negative
    return int(np.random.SeedSequence(entropy).generate_state(2, np.uint32).astype(np.uint64) @ [2**31, 1])


def reseed_transform(dataset: Dataset, seed: int) -> None:
    """Point the dataset's albumentations pipeline (if it has one) at a new stream."""
    transform = getattr(dataset, "transform", None)
    if transform is not None:
        transform.set_random_seed(seed)


@dataclass(frozen=True)
class WorkerStreams:
    """`worker_init_fn`: each worker process reseeds its copy of the pipeline (and numpy) for its own stream.
    torch's own RNG in the worker is already distinct: the DataLoader seeds it from its generator plus the
    worker id."""

    seed: int
    epoch: int
    rank: int

    def __call__(self, worker: int) -> None:
        """Seed the worker's augmentation, crops and global RNGs from its own stream (DataLoader's worker_init_fn)."""
        own = stream_seed(self.seed, self.epoch, self.rank, worker)
        np.random.seed(own % 2**32)
        reseed_transform(get_worker_info().dataset, own)


def epoch_loader(dataset: Dataset, batch_size: int, workers: int, seed: int, epoch: int, rank: int = 0,
                 world_size: int = 1) -> DataLoader:
    """Shuffled by (seed, epoch) -- under torchrun each process takes its DistributedSampler share -- with
    augmentation and crop draws of their own per (epoch, rank, worker)."""
    reseed_transform(dataset, stream_seed(seed, epoch, rank, MAIN_PROCESS))
    generator = torch.Generator().manual_seed(stream_seed(seed, epoch, rank, MAIN_PROCESS))
    init = WorkerStreams(seed, epoch, rank) if workers else None
    if world_size > 1:
        sampler = DistributedSampler(dataset, world_size, rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                          worker_init_fn=init, generator=generator)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, worker_init_fn=init,
                      generator=generator)

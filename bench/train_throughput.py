"""Training throughput of `train-fold` for EffiSegNet-B0 at 224 px, batch 8, against a bare loop.

The bare loop re-implements the reference recipe's training step in the same run: a torch
Dataset that decodes each JPEG and mask, albumentations resize + the same augmentations,
a DataLoader, the same model, DiceCE, AdamW. Both train on the same images with 2 threads;
images/s is taken over the second epoch (the first warms up and, for train-fold, fills its cache)."""
from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from configs.schema import MemberConfig, load_config  # noqa: E402
from data.augment import normalize  # noqa: E402
from data.synthetic import make_kvasir  # noqa: E402
from folds.engine import train_fold  # noqa: E402
from folds.split import Fold, Splits, write_splits  # noqa: E402

import models  # noqa: E402
from models.losses import CombinedLoss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "kvasir-seg" / "train"
IMAGES, SIZE, BATCH, THREADS = 64, 224, 8, 2


def prepare(folder: Path) -> Path:
    """64 Kvasir-SEG training images (synthetic ones if the real set is absent) in the original layout."""
    data = folder / "data"
    if not REAL.is_dir():
        make_kvasir(data, train=IMAGES, validation=0, test=0, size=352, layout="original")
        return data
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
    for path in sorted((REAL / "images").iterdir(), key=lambda p: p.name)[:IMAGES]:
        shutil.copy(path, data / "images" / path.name)
        shutil.copy(REAL / "masks" / path.name, data / "masks" / path.name)
    return data


class DecodingDataset(Dataset):
    """The reference style: decode and resize every image on every access."""

    def __init__(self, root: Path, transform: A.Compose):
        self.images = sorted((root / "images").iterdir())
        self.root, self.transform = root, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = cv2.cvtColor(cv2.imread(str(self.images[index])), cv2.COLOR_BGR2RGB)
        mask = (cv2.imread(str(self.root / "masks" / self.images[index].name), cv2.IMREAD_GRAYSCALE) > 127)
        out = self.transform(image=image, mask=mask.astype(np.uint8))
        return torch.from_numpy(out["image"].transpose(2, 0, 1).copy()), torch.from_numpy(out["mask"][None].copy())


def bare_loop(data: Path) -> float:
    transform = A.Compose([A.Resize(SIZE, SIZE), A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5),
                           A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-10, 10), p=0.5),
                           A.ColorJitter(0.2, 0.2, 0.2, 0.05, p=0.5)], seed=0)
    loader = DataLoader(DecodingDataset(data, transform), batch_size=BATCH, shuffle=True)
    model = models.build("effisegnet-b0")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-2)
    loss_fn = CombinedLoss({"dice_ce": 1.0}, 1)
    rate = 0.0
    for _ in range(2):
        model.train()
        start = time.perf_counter()
        for images, masks in loader:
            loss = loss_fn(model(normalize(images)), masks.float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        rate = len(loader.dataset) / (time.perf_counter() - start)
    return rate


def engine(data: Path, folder: Path) -> float:
    names = [f"images/{p.name}" for p in sorted((data / "images").iterdir())]
    splits = folder / "splits.json"
    write_splits(Splits("kvasir", "bench", 0, 1, [Fold(names, names[:8])]), splits)
    config = load_config(ROOT / "configs/kvasir/effisegnet_b0.yaml", MemberConfig,
                         [f"data.root={data}", f"data.splits={splits}", f"run.dir={folder / 'run'}",
                          "train.epochs=2", "run.tensorboard=false"])
    train_fold(config, 0, quiet=True)
    with open(folder / "run" / "fold0" / "log.csv") as handle:
        return float(list(csv.DictReader(handle))[-1]["images_per_s"])


def main() -> None:
    torch.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(Path(tmp))
        source = "real Kvasir-SEG" if REAL.is_dir() else "synthetic"
        bare = bare_loop(data)
        ours = engine(data, Path(tmp))
    print(f"EffiSegNet-B0, {SIZE} px, batch {BATCH}, {IMAGES} {source} images, {THREADS} threads, epoch 2")
    print(f"bare loop (decode + resize every step): {bare:.2f} images/s")
    print(f"train-fold engine:                      {ours:.2f} images/s")
    print(f"ratio: {ours / bare:.2f}x")


if __name__ == "__main__":
    main()

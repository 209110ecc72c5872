"""Training throughput of `train-fold` for EffiSegNet-B0 at 224 px, batch 8, against the official loop.

The official EffiSegNet training loop is re-implemented here and run in the same process: a torch
Dataset that decodes each JPEG and mask, albumentations Lanczos resize + the official augmentations
(flips, colour jitter, affine, elastic: p 0.5 each, the official limits), a DataLoader with the official
2 workers, the same model, DiceCE, AdamW. train-fold runs `configs/kvasir/effisegnet_b0.yaml` (the same
recipe) as it stands. Both train on the same images with 2 threads, epochs interleaved (official,
engine, official, engine, ...) after one warm-up epoch each, so drifts in machine speed hit both sides
alike; the engine is train-fold's own FoldTrainer (its cache is filled when it is built, as in train-fold)."""
from __future__ import annotations

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
import models  # noqa: E402
from configs.files import Fold, Splits  # noqa: E402
from configs.load import load_config  # noqa: E402
from configs.schema import MemberConfig
from data.augment import normalize  # noqa: E402
from data.splits import write_splits  # noqa: E402
from data.synthetic import make_kvasir  # noqa: E402
from folds.engine import FoldTrainer  # noqa: E402
from models.losses import CombinedLoss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "kvasir-seg" / "train"
IMAGES, SIZE, BATCH, THREADS, ROUNDS = 64, 224, 8, 2, 4
WORKERS = 2  # the official datamodule's default


def prepare(folder: Path, extra: int = 0) -> Path:
    """64 (+ `extra`) Kvasir-SEG training images (synthetic ones if the real set is absent), original layout."""
    data = folder / "data"
    if not REAL.is_dir():
        make_kvasir(data, train=IMAGES + extra, validation=0, test=0, size=352, layout="original")
        return data
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
    for path in sorted((REAL / "images").iterdir(), key=lambda p: p.name)[:IMAGES + extra]:
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


class OfficialLoop:
    """The official training step over a decoding DataLoader."""

    def __init__(self, data: Path):
        lanczos = cv2.INTER_LANCZOS4
        transform = A.Compose([A.Resize(SIZE, SIZE, interpolation=lanczos), A.HorizontalFlip(p=0.5),
                               A.VerticalFlip(p=0.5),
                               A.ColorJitter(brightness=(0.6, 1.6), contrast=0.2, saturation=0.1, hue=0.01, p=0.5),
                               A.Affine(scale=(0.5, 1.5), translate_percent=(-0.125, 0.125), rotate=(-90, 90),
                                        interpolation=lanczos, p=0.5),
                               A.ElasticTransform(interpolation=lanczos, p=0.5)], seed=0)
        self.loader = DataLoader(DecodingDataset(data, transform), batch_size=BATCH, shuffle=True,
                                 num_workers=WORKERS, persistent_workers=WORKERS > 0)
        self.model = models.build("effisegnet-b0")
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=1e-2)
        self.loss = CombinedLoss({"dice_ce": 1.0}, 1)

    def train_epoch(self) -> None:
        self.model.train()
        for images, masks in self.loader:
            loss = self.loss(self.model(normalize(images)), masks.float())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()


def engine(data: Path, folder: Path) -> FoldTrainer:
    """train-fold's own trainer (cache filled here), stepped epoch by epoch below."""
    names = [f"images/{p.name}" for p in sorted((data / "images").iterdir())]
    splits = folder / "splits.json"
    write_splits(Splits(task="kvasir", method="bench", seed=0, k=1, folds=[Fold(train=names, val=names[:8])]), splits)
    config = load_config(ROOT / "configs/kvasir/effisegnet_b0.yaml", MemberConfig,
                         [f"data.root={data}", f"data.splits={splits}", f"run.dir={folder / 'run'}",
                          "run.tensorboard=false"])
    return FoldTrainer(config, 0, quiet=True)


def images_per_second(train_epoch) -> float:
    start = time.perf_counter()
    train_epoch()
    return IMAGES / (time.perf_counter() - start)


def main() -> None:
    torch.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(Path(tmp))
        source = "real Kvasir-SEG" if REAL.is_dir() else "synthetic"
        official, ours = OfficialLoop(data), engine(data, Path(tmp))
        official.train_epoch()  # warm-up
        ours.train_epoch()
        rates = [(images_per_second(official.train_epoch), images_per_second(ours.train_epoch)) for _ in range(ROUNDS)]
    print(f"EffiSegNet-B0, {SIZE} px, batch {BATCH}, {IMAGES} {source} images, {THREADS} threads; "
          f"{ROUNDS} interleaved epochs each after a warm-up")
    for i, (b, o) in enumerate(rates, 1):
        print(f"  round {i}: official loop {b:.2f} images/s, train-fold {o:.2f} images/s, ratio {o / b:.2f}")
    print(f"median: official loop (decode + resize every step, {WORKERS} workers) "
          f"{np.median([b for b, _ in rates]):.2f} images/s, "
          f"train-fold engine {np.median([o for _, o in rates]):.2f} images/s, "
          f"ratio {np.median([o / b for b, o in rates]):.2f}x")


if __name__ == "__main__":
    main()

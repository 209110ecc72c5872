"""Every number honest (issue 35): each (epoch, rank, worker) draws its own augmentations; the weights behind the
OOF are the ones `train.checkpoint` names; an incomplete or damaged OOF is refused by every reader."""
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import Dataset

import folds.engine as engine
from configs.load import load_config
from configs.schema import AugmentConfig, MemberConfig
from data import get_task
from data.augment import build_transform
from data.splits import make_splits, write_splits
from folds.loaders import epoch_loader
from folds.train import train_fold
from models import build_model
from models.predictors import build_predictor
from models.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]
ITEMS, BATCH = 64, 4


class MarkedImages(Dataset):
    """`ITEMS` copies of one 4x4 image marked at its left edge, through a flip-only pipeline: each item says
    whether its draw flipped it (the mark moved to the right edge)."""

    def __init__(self):
        self.transform = build_transform(AugmentConfig(hflip=0.5), seed=0)
        self.image = np.zeros((4, 4, 3), np.uint8)
        self.image[0, 0] = 255

    def __len__(self) -> int:
        return ITEMS

    def __getitem__(self, index: int) -> torch.Tensor:
        flipped = self.transform(image=self.image)["image"]
        return torch.tensor(int(flipped[0, -1, 0] == 255))


def draws(workers: int, seed: int = 0, epoch: int = 0, rank: int = 0, world_size: int = 1) -> list[list[int]]:
    """The flip of every item, batch by batch, as the training loader of that epoch and process reads them."""
    loader = epoch_loader(MarkedImages(), BATCH, workers, seed, epoch, rank, world_size)
    return [batch.tolist() for batch in loader]


def test_every_worker_rank_and_epoch_draws_its_own_augmentations_and_a_seed_repeats_them():
    two_workers = draws(workers=2)
    assert len(two_workers) == ITEMS // BATCH
    # the DataLoader hands batches to its workers in turn: worker 0 reads the even batches, worker 1 the odd ones
    assert two_workers[0::2] != two_workers[1::2]
    flips = np.array(two_workers).ravel()
    assert 0.25 < flips.mean() < 0.75  # p = 0.5 flips happen, and not always
    assert draws(workers=2) == two_workers  # the same seed: the same draws
    assert draws(workers=2, seed=1) != two_workers
    assert draws(workers=2, epoch=1) != two_workers
    rank0, rank1 = draws(workers=0, rank=0, world_size=2), draws(workers=0, rank=1, world_size=2)
    assert len(rank0) == len(rank1) == ITEMS // 2 // BATCH and rank0 != rank1
    assert draws(workers=2, rank=1, world_size=2) != draws(workers=2, rank=0, world_size=2)


@pytest.fixture
def kvasir_member(kvasir_root, tmp_path):
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2, seed=0), splits)

    def config(name: str, *overrides: str) -> MemberConfig:
        return load_config(ROOT / "configs/kvasir/tiny.yaml", MemberConfig,
                           [f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / name}",
                            "train.epochs=4", "optim.lr=0.05", *overrides])

    return config


def weights_after_each_epoch(config: MemberConfig, monkeypatch) -> tuple[list[dict], Path]:
    """Train one fold, copying the validated weights at the end of every epoch; (the copies, the run folder)."""
    copies, real_run_epoch = [], engine.FoldTrainer.run_epoch

    def recording(self, loggers):
        real_run_epoch(self, loggers)
        copies.append({k: v.detach().clone() for k, v in self.evaluated.state_dict().items()})

    with monkeypatch.context() as patch:
        patch.setattr(engine.FoldTrainer, "run_epoch", recording)
        result = train_fold(config, fold=0, quiet=True)
    return copies, result.run_dir


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].float(), b[k].float()) for k in a)


def test_checkpoint_last_keeps_the_last_epoch_and_best_the_best_one_and_the_oof_comes_from_them(
        kvasir_member, monkeypatch):
    last_copies, last_dir = weights_after_each_epoch(kvasir_member("last"), monkeypatch)
    best_copies, best_dir = weights_after_each_epoch(kvasir_member("best", "train.checkpoint=best"), monkeypatch)
    last_state, best_state = RunFolder(last_dir).state(), RunFolder(best_dir).state()
    assert last_state.config.train.checkpoint == "last" and best_state.config.train.checkpoint == "best"
    assert same_weights(load_file(str(last_dir / "model.safetensors")), last_copies[-1])
    assert last_state.kept_epoch == 4
    assert same_weights(load_file(str(best_dir / "model.safetensors")), best_copies[best_state.best_epoch - 1])
    assert best_state.kept_epoch == best_state.best_epoch and best_state.kept_dice == best_state.best_dice
    assert best_state.best_epoch < 4 and not same_weights(best_copies[best_state.best_epoch - 1], best_copies[-1])
    # the OOF is what the kept weights predict, loaded afresh through the member's own predictor
    config = last_state.config
    model = build_model(config.model, 1, with_pretrained=False)
    RunFolder(last_dir).load_weights(model)
    predictor = build_predictor(config, model.eval(), torch.device("cpu"))
    task = get_task("kvasir", config.data.root)
    for case in last_state.val_cases:
        expected = predictor.predict_batch([task.read_image(case)])[0]
        stored = np.load(last_dir / "oof" / f"{Path(case).name}.npy")
        assert np.abs(stored.astype(np.float32) - expected).max() < 2e-3  # float16 storage


def test_the_train_fold_line_says_which_weights_it_kept(kvasir_member, run_cli, tmp_path):
    config = kvasir_member("cli", "train.epochs=1")
    code, out, _ = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0",
                           "--set", f"data.root={config.data.root}", f"data.splits={config.data.splits}",
                           f"run.dir={config.run.dir}", "train.epochs=1")
    assert code == 0 and "kept the last weights (epoch 1)" in out


@pytest.fixture
def oof_members(kvasir_root, tmp_path):
    """Two entries x 2 folds of stub members with complete OOF files (seeded noise around the truth, on the
    members' 64 px grid: the images' own size), and an ensemble config over them."""
    import yaml

    from tests.stubs import make_stub_run

    task = get_task("kvasir", kvasir_root)
    rng = np.random.default_rng(0)
    for member in "ab":
        for fold, split in enumerate(make_splits(task, k=2, seed=0).folds):
            run = RunFolder(tmp_path / member / f"fold{fold}")
            make_stub_run(run.path, "kvasir", task.classes, size=64, seed=fold)
            state = run.state()
            state.config.data.root = kvasir_root
            run.write_state(state.model_copy(update={"fold": fold, "val_cases": split.val, "oof_done": True}))
            for case in split.val:
                truth = task.read_mask(case).astype(np.float32)
                run.write_oof(Path(case).name, np.clip(truth * 0.6 + rng.uniform(0, 0.4, truth.shape), 0, 1))
    config = {"task": "kvasir", "members": [str(tmp_path / m / "fold*") for m in "ab"],
              "data": {"root": str(kvasir_root)}, "output": {"csv": str(tmp_path / "sub.csv")}}
    (tmp_path / "ensemble.yaml").write_text(yaml.safe_dump(config))
    return tmp_path, kvasir_root


def first_oof(work: Path) -> Path:
    return sorted((work / "b" / "fold1" / "oof").iterdir())[0]


DAMAGES = {
    "deleted": lambda path: path.unlink(),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:60]),
    "two channels": lambda path: np.save(path, np.zeros((2, 64, 64), np.float16)),
    "NaN": lambda path: np.save(path, np.full((1, 64, 64), np.nan, np.float16)),
    "logits": lambda path: np.save(path, np.full((1, 64, 64), 3.0, np.float16)),
    "empty": lambda path: np.save(path, np.zeros((1, 0, 64), np.float16)),
    "another aspect ratio": lambda path: np.save(path, np.zeros((1, 64, 32), np.float16)),
    "another member's grid": lambda path: np.save(path, np.zeros((1, 32, 32), np.float16)),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_every_oof_reader_refuses_a_run_whose_oof_is_incomplete_or_damaged(oof_members, run_cli, damage):
    work, data = oof_members
    config = work / "ensemble.yaml"
    for command in (("tune-ensemble", "--config", config, "--out", work / "w.json"),
                    ("tune-thresholds", "--config", config, "--out", work / "t.json"),
                    ("analyze", "--task", "kvasir", "--runs", work / "a" / "fold*", work / "b" / "fold*",
                     "--data-root", data, "--out", work / "report")):
        assert run_cli("--quiet", *command)[0] == 0, command  # the intact members tune
    for output in ("w.json", "t.json"):
        (work / output).unlink()
    damaged = first_oof(work)
    DAMAGES[damage](damaged)
    for command in (("tune-ensemble", "--config", config, "--out", work / "w.json"),
                    ("tune-thresholds", "--config", config, "--out", work / "t.json"),
                    ("analyze", "--task", "kvasir", "--runs", work / "b" / "fold*", "--data-root", data,
                     "--out", work / "report2")):
        code, _, err = run_cli("--quiet", *command)
        assert code == 2 and err.count("\n") == 1, (command, err)
        assert damaged.name in err and "fold1" in err, err
    assert not (work / "w.json").exists() and not (work / "t.json").exists() and not (work / "report2").exists()


def test_kvasir_pointed_at_the_top_of_the_release_layout_predicts_test_images_only(kvasir_root):
    task = get_task("kvasir", kvasir_root)
    expected = sorted(p.relative_to(kvasir_root).as_posix() for p in (kvasir_root / "test" / "images").iterdir())
    assert task.test_images() == expected and len(expected) == 4


def test_split_seed_shuffles_group_kfold_and_keeps_every_patient_in_one_fold(handbone_root):
    task = get_task("handbone", handbone_root)
    assignments = set()
    for seed in range(6):
        splits = make_splits(task, k=2, seed=seed)
        val_groups = [frozenset(task.group(c) for c in fold.val) for fold in splits.folds]
        train_groups = [{task.group(c) for c in fold.train} for fold in splits.folds]
        assert all(not (v & t) for v, t in zip(val_groups, train_groups))  # patients never split
        assert make_splits(task, k=2, seed=seed) == splits  # a seed repeats itself
        assignments.add(frozenset(val_groups))
    assert len(assignments) > 1  # 4 patients in 2 folds: 3 ways; six seeds draw more than one


def test_vote_takes_csvs_whose_class_rows_come_in_another_order(tmp_path, run_cli):
    header = "image_name,class,rle\n"
    (tmp_path / "a.csv").write_text(header + "x.png,one,1 3\nx.png,two,5 2\n")
    (tmp_path / "b.csv").write_text(header + "x.png,two,5 2\nx.png,one,2 2\n")
    code, _, err = run_cli("--quiet", "vote", "--csv", tmp_path / "a.csv", tmp_path / "b.csv", "--min-votes", "2",
                           "--out", tmp_path / "v.csv")
    assert code == 0, err
    assert (tmp_path / "v.csv").read_text() == header + "x.png,one,2 2\nx.png,two,5 2\n"


def test_the_tuners_write_nothing_among_the_labels_they_score_against(oof_members, run_cli):
    work, data = oof_members
    for command in ("tune-thresholds", "tune-ensemble"):
        target = data / "train" / "masks" / "t.json"
        code, _, err = run_cli("--quiet", command, "--config", work / "ensemble.yaml", "--out", target)
        assert code == 2 and "lies inside" in err and not target.exists(), err


def test_the_release_split_trains_where_train_and_validation_share_image_names(kvasir_root, tmp_path, run_cli):
    """Kvasir-SEG's release holds train/images/0.jpg and validation/images/0.jpg: only a fold's validation
    names (its OOF files) must be unique."""
    import shutil

    root = tmp_path / "release"
    for part, count in (("train", 8), ("validation", 3)):
        for sub in ("images", "masks"):
            (root / part / sub).mkdir(parents=True)
            sources = sorted((kvasir_root / "train" / sub).iterdir())[:count]
            for index, source in enumerate(sources):
                shutil.copy(source, root / part / sub / f"{index}{source.suffix}")
    code, _, err = run_cli("--quiet", "split", "--task", "kvasir", "--data-root", root, "--method", "release",
                           "--out", tmp_path / "splits.json")
    assert code == 0, err
    code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0",
                           "--set", f"data.root={root}", f"data.splits={tmp_path / 'splits.json'}",
                           f"run.dir={tmp_path / 'run'}", "train.epochs=1")
    assert code == 0, err
    assert len(list((tmp_path / "run" / "fold0" / "oof").iterdir())) == 3


@pytest.mark.parametrize("config, overrides", [
    ("kvasir/tiny.yaml", []),
    ("kvasir/tiny.yaml", ["model.inference=sliding_window"]),
    ("kvasir/tiny_yolo.yaml", []),
])
def test_the_grid_an_oof_is_checked_against_is_the_grid_the_member_predicts_on(config, overrides):
    """What the OOF readers expect of an image (`member_grid`, computed from the config alone) is the shape the
    member's own predictor returns for it: square for a resized member, the image's for sliding windows, the
    image fitted into the input for YOLO; on images wider and taller than they are long."""
    from models import build_model
    from models.predictors import build_predictor, member_grid

    member = load_config(ROOT / "configs" / config, MemberConfig, ["data.image_size=64", *overrides])
    model = build_model(member.model, 1, with_pretrained=False)
    predictor = build_predictor(member, model, torch.device("cpu"))
    for shape in ((48, 80), (90, 70)):
        image = np.random.default_rng(0).integers(0, 255, (*shape, 3), np.uint8)
        assert predictor.predict(image).shape == (1, *member_grid(member, shape)), (config, overrides, shape)

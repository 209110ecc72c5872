"""YOLOv8-seg members: trained by ultralytics through train-fold (offline), exported labels that round-trip,
instances turned into per-class probability maps, and soft-voting beside torch members."""
import csv
import json
import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from data import get_task
from data.splits import make_splits, write_splits
from models import build
from models.yolo import YoloPredictor
from submit.submission import read_submission
from submit.validate import validate_csv
from tests.stubs import make_conv_run

ROOT = Path(__file__).resolve().parents[1]
# shared member keys that reach ultralytics' own arguments (tests/test_yolo_arguments.py reads its args.yaml)
MAPPED_KEYS = {"kvasir": ["augment.affine=1", "augment.affine_rotate=7", "scheduler.min_lr=2e-3"], "handbone": []}


@pytest.fixture(scope="module")
def yolo_runs(kvasir_root, handbone_root, tmp_path_factory):
    """One fold of a tiny YOLO member per task (2 epochs), trained in-process while every socket
    connection is recorded and refused."""
    work = tmp_path_factory.mktemp("yolo")
    attempts = []
    real_connect, real_create = socket.socket.connect, socket.create_connection

    def refuse(*args, **kwargs):
        attempts.append(args[1:] or kwargs)
        raise OSError("network disabled by the test")

    from cli import main

    socket.socket.connect, socket.create_connection = lambda self, *a, **k: refuse(self, *a, **k), refuse
    try:
        runs = {}
        for task, root, size in (("kvasir", kvasir_root, 64), ("handbone", handbone_root, 64)):
            splits = work / f"{task}_splits.json"
            write_splits(make_splits(get_task(task, root), k=2), splits)
            code = main(["--quiet", "train-fold", "--config", str(ROOT / f"configs/{task}/tiny_yolo.yaml"), "--fold",
                         "0", "--set", f"data.root={root}", f"data.splits={splits}", f"run.dir={work / task}",
                         "train.epochs=2", f"data.image_size={size}", *MAPPED_KEYS[task]])
            assert code == 0
            runs[task] = work / task / "fold0"
    finally:
        socket.socket.connect, socket.create_connection = real_connect, real_create
    return runs, attempts


def test_training_is_offline_and_leaves_the_run_folder_artefacts(yolo_runs):
    runs, attempts = yolo_runs
    assert attempts == []  # no font, weights or update check reached for the network
    run = runs["kvasir"]
    for name in ("model.safetensors", "model.yaml", "state.json", "log.csv", "curves.png"):
        assert (run / name).is_file(), name
    state = json.loads((run / "state.json").read_text())
    assert state["oof_done"] and len(state["val_cases"]) == len(list((run / "oof").iterdir()))
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,loss,val_dice,lr") and len(rows) == 3  # ultralytics' 2 epochs
    assert os.environ.get("YOLO_OFFLINE") == "1"  # set before ultralytics was first imported
    for oof in (run / "oof").iterdir():
        probs = np.load(oof)
        assert probs.dtype == np.float16 and probs.shape == (1, 64, 64)
        assert 0 <= probs.min() and probs.max() <= 1


def rasterise(label_file: Path, shape: tuple[int, int], classes: int) -> np.ndarray:
    """Fill the polygons of an ultralytics label file back into class masks."""
    masks = np.zeros((classes, *shape), np.uint8)
    for line in label_file.read_text().splitlines():
        values = line.split()
        points = np.array(values[1:], float).reshape(-1, 2) * [shape[1], shape[0]] - 0.5
        cv2.fillPoly(masks[int(values[0])], [np.round(points).astype(np.int32)], 1)
    return masks.astype(bool)


def test_exported_polygons_rasterise_back_to_the_masks(yolo_runs, handbone_root):
    runs, _ = yolo_runs
    task = get_task("handbone", handbone_root)
    exported = next((runs["handbone"].parent / "yolo_data").iterdir())
    names = yaml.safe_load((exported / "data.yaml").read_text())["names"]
    assert [names[i] for i in range(len(task.classes))] == list(task.classes)
    checked = 0
    for case in task.labelled_cases():
        found = list(exported.glob(f"labels/*/{Path(case).stem}.txt"))
        if not found:
            continue
        truth = task.read_mask(case)
        back = rasterise(found[0], truth.shape[1:], len(task.classes))
        for t, b in zip(truth, back):
            if t.sum() >= 30:  # bones of a few pixels at 128 px are all outline
                assert 2 * (t & b).sum() / (t.sum() + b.sum()) > 0.95
                checked += 1
    assert checked > 100


def test_instances_become_per_class_maps_in_class_order():
    """Hand-made detections: class 2 twice (the max wins), class 0 once overlapping it, class 1 never."""
    model = build("yolov8-seg", num_classes=3, scale="n")
    predictor = YoloPredictor(model, 64, torch.device("cpu"))
    protos = torch.zeros(32, 16, 16)
    protos[0] = 4.0  # coefficient 1 on prototype 0: sigmoid(4) everywhere
    protos[1, :8] = 8.0  # prototype 1 lights the top half
    found = torch.zeros(3, 38)
    found[0, :6] = torch.tensor([0, 0, 64, 64, 0.9, 2])
    found[0, 6] = 1.0
    found[1, :6] = torch.tensor([0, 0, 32, 32, 0.6, 2])
    found[1, 7] = 1.0
    found[2, :6] = torch.tensor([16, 16, 48, 48, 0.5, 0])
    found[2, 6] = 1.0
    maps = predictor.class_maps(found, protos, (0, 0, 64, 64))
    assert maps.shape == (3, 64, 64)
    s4 = 1 / (1 + np.exp(-4))
    np.testing.assert_allclose(maps[2, 40:, 40:], 0.9 * s4, atol=1e-5)  # only the first instance there
    np.testing.assert_allclose(maps[2, 2:20, 2:20], 0.9 * s4, atol=1e-5)  # max(0.9 s(4), 0.6 s(8)) = 0.9 s(4)
    np.testing.assert_allclose(maps[0, 20:44, 20:44], 0.5 * s4, atol=1e-5)
    assert maps[0, :10, :10].max() == 0 and maps[1].max() == 0
    assert (maps[0] > 0.3).any() and ((maps[0] > 0.3) & (maps[2] > 0.3)).any()  # two classes high on one pixel


def test_yolo_members_vote_beside_torch_members_on_both_tasks(yolo_runs, kvasir_root, handbone_root, tmp_path,
                                                               run_cli):
    runs, _ = yolo_runs
    for task, root, images in (("kvasir", kvasir_root / "test", kvasir_root / "test"),
                               ("handbone", handbone_root, handbone_root)):
        classes = get_task(task, root).classes
        make_conv_run(tmp_path / task / "conv" / "fold0", task, classes, image_size=64, seed=3)
        csv = tmp_path / f"{task}.csv"
        code, _, err = run_cli("--quiet", "ensemble", "--config", ROOT / f"configs/ensemble/{task}.yaml", "--set",
                               f"members=[{runs[task]}, {tmp_path / task / 'conv' / 'fold0'}]", f"data.root={root}",
                               f"output.csv={csv}", "thresholds=0.5")
        assert code == 0, err
        assert validate_csv(task, csv, images) == len(get_task(task, root).test_images())
        assert len(read_submission(csv)) == len(get_task(task, root).test_images()) * len(classes)
    assert len(list((tmp_path / "kvasir_masks").glob("*.png"))) == 4


def test_all_four_families_vote_into_a_valid_kvasir_csv_and_masks(yolo_runs, kvasir_root, tmp_path, run_cli):
    """UNet++, EffiSegNet and SwinUNETR (one epoch each, on the YOLO member's folds) beside the YOLO member."""
    runs, _ = yolo_runs
    splits = runs["kvasir"].parents[1] / "kvasir_splits.json"
    members = [runs["kvasir"]]
    for family in ("tiny", "tiny_effisegnet", "tiny_swinunetr"):
        code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / f"configs/kvasir/{family}.yaml", "--fold",
                               "0", "--set", f"data.root={kvasir_root}", f"data.splits={splits}",
                               f"run.dir={tmp_path / family}", "train.epochs=1")
        assert code == 0, err
        members.append(tmp_path / family / "fold0")
    csv = tmp_path / "zoo.csv"
    code, _, err = run_cli("--quiet", "ensemble", "--config", ROOT / "configs/ensemble/kvasir.yaml", "--set",
                           f"members=[{', '.join(map(str, members))}]", f"data.root={kvasir_root / 'test'}",
                           f"output.csv={csv}")
    assert code == 0, err
    assert validate_csv("kvasir", csv, kvasir_root / "test") == 4
    masks = sorted((tmp_path / "zoo_masks").glob("*.png"))
    assert len(masks) == 4 and {cv2.imread(str(m), cv2.IMREAD_GRAYSCALE).shape for m in masks} == {(64, 64)}


def test_a_pickled_checkpoint_needs_trust_pickle(yolo_runs):
    runs, _ = yolo_runs
    last = runs["kvasir"] / "ultralytics" / "weights" / "last.pt"
    state = json.loads((runs["kvasir"] / "state.json").read_text())
    config = state["config"]
    from configs.schema import MemberConfig
    from models import build_model

    refused = MemberConfig.model_validate({**config, "model": {**config["model"], "weights": str(last)}})
    with pytest.raises(Exception, match="trust_pickle"):
        build_model(refused.model, 1)
    trusted = refused.model.model_copy(update={"trust_pickle": True})
    model = build_model(trusted, 1)
    assert model.model[-1].nc == 1


def test_an_interrupted_yolo_run_resumes_where_it_stopped(kvasir_root, tmp_path, run_cli, monkeypatch):
    """Stop ultralytics right after epoch 1 of 2 has saved last.pt; --resume trains epoch 2 only."""
    from ultralytics.utils.callbacks import base

    class Interrupted(Exception):
        pass

    def interrupt(trainer):
        raise Interrupted(f"stopped after epoch {trainer.epoch + 1}")

    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    args = ["--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny_yolo.yaml", "--fold", "0", "--set",
            f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'run'}", "train.epochs=2",
            "data.image_size=64"]
    with monkeypatch.context() as patch:
        patch.setitem(base.default_callbacks, "on_model_save", [interrupt])
        code, _, err = run_cli(*args)  # an unexpected exception: one line, exit 1
        assert code == 1 and "Interrupted: stopped after epoch 1" in err and err.count("\n") == 1
    run = tmp_path / "run" / "fold0"
    assert not (run / "model.safetensors").exists()
    checkpoint = torch.load(run / "ultralytics/weights/last.pt", map_location="cpu", weights_only=False)
    assert checkpoint["epoch"] == 0  # ultralytics counts from 0: epoch 1 is done
    before = sorted((p.relative_to(run), p.stat().st_mtime_ns) for p in run.rglob("*"))
    fewer = tmp_path / "fewer.json"  # the fold's data changed: one validation image less
    fewer.write_text(json.dumps({**json.loads(splits.read_text()), "folds": [
        {**fold, "val": fold["val"][1:]} for fold in json.loads(splits.read_text())["folds"]]}))
    for changed, fragment in ((f"data.splits={fewer}", "data (splits or files) changed"),
                              ("optim.lr=0.5", "optim.lr was")):
        code, _, err = run_cli(*args, changed, "--resume")
        assert code == 2 and fragment in err and err.count("\n") == 1, err
    assert sorted((p.relative_to(run), p.stat().st_mtime_ns) for p in run.rglob("*")) == before
    checkpoint, original = run / "ultralytics/weights/last.pt", (run / "ultralytics/weights/last.pt").read_bytes()
    checkpoint.write_bytes(original + b"\0")  # a crafted pickle in its place: never unpickled
    code, _, err = run_cli(*args, "--resume")
    assert code == 2 and "is not the checkpoint this run wrote" in err and err.count("\n") == 1, err
    checkpoint.write_bytes(original)
    code, _, err = run_cli(*args, "--resume")
    assert code == 0, err
    rows = (run / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2"]  # each epoch once, none trained twice
    assert (run / "model.safetensors").is_file() and json.loads((run / "state.json").read_text())["oof_done"]


def test_a_relative_run_dir_keeps_ultralytics_files_in_the_run_folder(kvasir_root, tmp_path, run_cli, monkeypatch):
    """ultralytics puts a relative `project` under its own runs_dir; the run folder must get them all the same."""
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny_yolo.yaml", "--fold", "0",
                           "--set", f"data.root={kvasir_root}", f"data.splits={splits}", "run.dir=relative",
                           "train.epochs=1", "data.image_size=64")
    assert code == 0, err
    run = tmp_path / "relative" / "fold0"
    assert (run / "ultralytics" / "results.csv").is_file() and (run / "ultralytics/weights/last.pt").is_file()
    assert len((run / "log.csv").read_text().splitlines()) == 2 and (run / "curves.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relative", "splits.json"]


@pytest.mark.parametrize("trainer_args, fragment", [("{mosaicc: 0.5}", "trainer_args.mosaicc: not an ultralytics"),
                                                    ("{mosaic: 7}", "model.trainer_args:")])
def test_a_trainer_argument_ultralytics_refuses_is_one_line_and_leaves_nothing(trainer_args, fragment, kvasir_root,
                                                                              tmp_path, run_cli):
    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    code, _, err = run_cli("--quiet", "train-fold", "--config", ROOT / "configs/kvasir/tiny_yolo.yaml", "--fold", "0",
                           "--set", f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'run'}",
                           f"model.trainer_args={trainer_args}")
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_the_exported_dataset_is_keyed_by_the_preprocessing_too(kvasir_root, tmp_path):
    """The same fold with and without CLAHE exports to two folders, so neither trains on the other's images."""
    from configs.load import load_config
    from configs.schema import MemberConfig
    from folds.fold_run import open_fold
    from folds.yolo.trainer import export_key

    splits = tmp_path / "splits.json"
    write_splits(make_splits(get_task("kvasir", kvasir_root), k=2), splits)
    keys = []
    for extra in ([], ["data.preprocess=[clahe]"]):
        config = load_config(ROOT / "configs/kvasir/tiny_yolo.yaml", MemberConfig,
                             [f"data.root={kvasir_root}", f"data.splits={splits}", f"run.dir={tmp_path / 'run'}", *extra])
        keys.append(export_key(open_fold(config, 0, resume=False)))
    assert keys[0] != keys[1]


def test_ultralytics_received_the_mapped_arguments_and_the_state_names_the_kept_epoch(yolo_runs):
    runs, _ = yolo_runs
    received = yaml.safe_load((runs["kvasir"] / "ultralytics" / "args.yaml").read_text())
    assert received["degrees"] == 7 and received["translate"] == 0.05 and received["scale"] == [0.9, 1.1]
    assert received["fliplr"] == 0.5 and received["lrf"] == pytest.approx(0.1)
    for run in runs.values():
        state = json.loads((run / "state.json").read_text())
        assert state["kept_epoch"] == 2  # train.checkpoint: last
        chosen = json.loads((run / "ultralytics" / "best_epoch.json").read_text())
        assert state["best_epoch"] == chosen["epoch"] and 1 <= chosen["epoch"] <= 2
        with open(run / "log.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [r["val_dice"] != "" for r in rows] == [False, True]  # the kept epoch's row holds its Dice
        assert float(rows[-1]["val_dice"]) == pytest.approx(state["kept_dice"], abs=1e-6)

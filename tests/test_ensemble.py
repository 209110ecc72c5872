"""Soft voting with members whose outputs are known, TTA, thresholds and hard voting."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from configs.load import validate_config
from configs.schema import EnsembleConfig
from data import get_task
from ensemble.hard_vote import hard_vote_csvs
from ensemble.run import run_ensemble
from ensemble.thresholds import CANDIDATES, image_threshold_dice
from submit.rle import decode
from submit.submission import read_submission, write_submission
from tests.stubs import local_conv_probs, make_conv_run, make_stub_run
from tests.test_rle import reference_encode


def reference_probs(model, shape) -> np.ndarray:
    """sigmoid(logits), rounded to float16 on the member's grid as every member's probabilities are before the vote
    (the documented step that makes the cache invisible), resampled with torch's bilinear (half-pixel) interpolation."""
    probs = torch.sigmoid(model.logits).half().float()[None]
    return F.interpolate(probs, size=shape, mode="bilinear", align_corners=False)[0].numpy()


def ensemble_config(task, root, members, csv, **extra) -> EnsembleConfig:
    return validate_config({"task": task, "members": members, "data": {"root": str(root)},
                            "output": {"csv": str(csv)}, **extra}, EnsembleConfig, "test")


def test_weighted_soft_vote_of_members_at_different_sizes(handbone_root, tmp_path):
    classes = get_task("handbone", handbone_root).classes
    small = make_stub_run(tmp_path / "a" / "fold0", "handbone", classes, size=32, seed=1)
    large = make_stub_run(tmp_path / "b" / "fold0", "handbone", classes, size=64, seed=2)
    csv = tmp_path / "sub.csv"
    config = ensemble_config("handbone", handbone_root, [{"path": str(tmp_path / "a" / "fold*"), "weight": 1.0},
                                                         {"path": str(tmp_path / "b" / "fold0"), "weight": 3.0}], csv)
    assert run_ensemble(config, quiet=True) == csv
    expected = (reference_probs(small, (128, 128)) + 3 * reference_probs(large, (128, 128))) / 4
    from ensemble.vote import class_probabilities, grid_means
    grids = grid_means([(torch.sigmoid(small.logits).half().float().numpy(), 1.0),
                        (torch.sigmoid(large.logits).half().float().numpy(), 3.0)])
    voted = np.stack([class_probabilities(grids, (128, 128), c) for c in range(len(classes))])
    np.testing.assert_allclose(voted, expected, atol=1e-5)
    rows = read_submission(csv)
    names = sorted(Path(c).name for c in get_task("handbone", handbone_root).test_images())
    assert [r.image_name for r in rows] == [n for n in names for _ in classes]
    sure = np.abs(expected - 0.5) > 1e-5  # pixels on the threshold within float error may go either way
    assert sure.mean() > 0.999
    for i, row in enumerate(rows[:29]):
        assert row.class_name == classes[i]
        if sure[i].all():
            assert row.rle == reference_encode(expected[i] > 0.5)
        mask = decode(row.rle, (128, 128))
        np.testing.assert_array_equal(mask[sure[i]], (expected[i] > 0.5)[sure[i]])


def test_members_sharing_a_grid_equal_their_weighted_mean(kvasir_root, tmp_path):
    one = make_stub_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), size=32, seed=3)
    two = make_stub_run(tmp_path / "m" / "fold1", "kvasir", ("polyp",), size=32, seed=4)
    from ensemble.vote import grid_means
    grids = grid_means([(torch.sigmoid(one.logits).numpy(), 2.0), (torch.sigmoid(two.logits).numpy(), 1.0)])
    assert len(grids) == 1 and grids[0][1] == 3.0
    np.testing.assert_allclose(grids[0][0], (2 * torch.sigmoid(one.logits) + torch.sigmoid(two.logits)).numpy() / 3,
                               atol=1e-6)
    csv = tmp_path / "k.csv"
    run_ensemble(ensemble_config("kvasir", kvasir_root / "test", [str(tmp_path / "m" / "fold*")], csv), quiet=True)
    expected = (reference_probs(one, (64, 64)) + reference_probs(two, (64, 64)))[0] / 2 > 0.5
    rows = read_submission(csv)
    assert len(rows) == 4 and all(r.rle == reference_encode(expected) for r in rows)
    png = sorted((tmp_path / "k_masks").iterdir())
    assert len(png) == 4
    import cv2
    np.testing.assert_array_equal(cv2.imread(str(png[0]), cv2.IMREAD_GRAYSCALE) > 127, expected)


def csv_masks(csv: Path, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Image name -> the CSV's mask of its first class."""
    return {r.image_name: decode(r.rle, shape) for r in read_submission(csv)}


def test_hflip_tta_from_the_ensemble_config_averages_the_flipped_prediction(kvasir_root, tmp_path):
    """`tta: hflip` on an entry: (f(x) + flip(f(flip(x)))) / 2 for a left-right asymmetric local f."""
    make_conv_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), image_size=64, seed=11)
    task = get_task("kvasir", kvasir_root / "test")
    for tta in ("hflip", "none"):
        config = ensemble_config("kvasir", kvasir_root / "test", [{"path": str(tmp_path / "m" / "fold0"), "tta": tta}],
                                 tmp_path / f"{tta}.csv")
        masks = csv_masks(run_ensemble(config, quiet=True), (64, 64))
        for case in task.test_images():
            image = task.read_image(case)
            plain = local_conv_probs(image, seed=11)[0]
            expected = (plain + local_conv_probs(image[:, ::-1], seed=11)[0][:, ::-1]) / 2 if tta == "hflip" else plain
            sure = np.abs(expected - 0.5) > 1e-3
            assert sure.mean() > 0.98
            np.testing.assert_array_equal(masks[Path(case).name][sure], (expected > 0.5)[sure])
            if tta == "hflip":  # the flip matters: a predictor that skipped it would fail above
                assert ((expected > 0.5) != (plain > 0.5)).mean() > 0.02


def test_sliding_window_member_equals_the_full_image_prediction_of_a_local_function(kvasir_root, tmp_path):
    """`model.inference: sliding_window` with 32-px windows over 64-px images. A 3x3 conv is local, so the
    gaussian-blended windows equal the full-image function wherever the window centres outweigh the
    edges. Within ~6 px of the image border MONAI's gaussian weights all sit at their 1e-3 floor, the
    blend is uniform there and inner window edges show: that band is only bounded. The same member
    resized to 32 px disagrees far more."""
    task = get_task("kvasir", kvasir_root / "test")
    interior = np.zeros((64, 64), bool)
    interior[8:-8, 8:-8] = True
    for inference in ("sliding_window", "resize"):
        make_conv_run(tmp_path / inference / "fold0", "kvasir", ("polyp",), image_size=32, seed=12,
                      inference=inference, overlap=0.5)
        config = ensemble_config("kvasir", kvasir_root / "test", [str(tmp_path / inference / "fold0")],
                                 tmp_path / f"{inference}.csv")
        masks = csv_masks(run_ensemble(config, quiet=True), (64, 64))
        inside, everywhere = [], []
        for case in task.test_images():
            expected = local_conv_probs(task.read_image(case), seed=12)[0]
            sure = np.abs(expected - 0.5) > 1e-2
            assert sure.mean() > 0.9
            wrong = (masks[Path(case).name] != (expected > 0.5)) & sure
            inside.append(wrong[interior].mean())
            everywhere.append(wrong.mean())
        if inference == "sliding_window":
            assert max(inside) == 0 and max(everywhere) < 0.01
        else:
            assert min(inside) > 0.02


def test_threshold_dice_matches_brute_force():
    """Three images' pixels concatenated, each image's Dice at every candidate threshold."""
    rng = np.random.default_rng(0)
    probs = rng.random((3, 20, 20)).astype(np.float32)
    probs[0, 0, :5] = 0.5  # exact ties with a candidate: "> t" must exclude them
    truth = rng.random((3, 20, 20)) > 0.6
    image = np.repeat(np.arange(3), 400)
    table = image_threshold_dice(probs.ravel(), truth.ravel(), image, 3)
    for c in range(3):
        for j, t in enumerate(CANDIDATES):
            pred = probs[c] > t
            tp = (pred & truth[c]).sum()
            expected = (2 * tp + 1e-4) / (pred.sum() + truth[c].sum() + 1e-4)
            assert table[c, j] == pytest.approx(expected)


def _write_random_csvs(tmp_path, count, rng, shape=(7, 9)):
    names, classes = ["a.png", "b.png"], ("polyp", "other")
    masks = rng.random((count, len(names), len(classes), *shape)) > 0.5
    paths = []
    for k in range(count):
        path = tmp_path / f"in{k}.csv"
        with write_submission(path, classes) as writer:
            for i, name in enumerate(names):
                writer.write_image(name, masks[k, i])
        paths.append(str(path))
    return paths, masks, names, classes


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_hard_vote_matches_hand_count(tmp_path, count):
    rng = np.random.default_rng(count)
    paths, masks, names, classes = _write_random_csvs(tmp_path, count, rng)
    for min_votes in range(1, count + 1):
        out = tmp_path / f"vote{min_votes}.csv"
        hard_vote_csvs(paths, out, min_votes, quiet=True)
        expected = masks.sum(0) >= min_votes
        rows = read_submission(out)
        assert [(r.image_name, r.class_name) for r in rows] == [(n, c) for n in names for c in classes]
        assert [r.rle for r in rows] == [reference_encode(expected[i, j]) for i in range(2) for j in range(2)]


def test_vote_rejects_bad_min_votes_and_mismatched_csvs(tmp_path, run_cli):
    paths, *_ = _write_random_csvs(tmp_path, 2, np.random.default_rng(0))
    code, _, err = run_cli("vote", "--csv", *paths, "--min-votes", "3", "--out", tmp_path / "v.csv")
    assert code == 2 and "--min-votes" in err
    lines = Path(paths[1]).read_text().splitlines()
    Path(paths[1]).write_text("\n".join(lines[:-1]) + "\n")
    code, _, err = run_cli("vote", "--csv", *paths, "--min-votes", "1", "--out", tmp_path / "v.csv")
    assert code == 2 and "missing row" in err and not (tmp_path / "v.csv").exists()


def test_probability_cache_skips_the_models_on_a_rerun(kvasir_root, tmp_path, monkeypatch):
    make_stub_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), size=32, seed=7)
    extra = {"cache_dir": str(tmp_path / "cache")}
    first = tmp_path / "first.csv"
    run_ensemble(ensemble_config("kvasir", kvasir_root / "test", [str(tmp_path / "m" / "fold0")], first, **extra),
                 quiet=True)
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 4
    from models.predictors import ResizePredictor

    def no_model(self, images):
        raise AssertionError("the model ran although its probabilities were cached")

    monkeypatch.setattr(ResizePredictor, "predict_batch", no_model)
    same = tmp_path / "same.csv"
    run_ensemble(ensemble_config("kvasir", kvasir_root / "test", [str(tmp_path / "m" / "fold0")], same, **extra),
                 quiet=True)
    assert same.read_bytes() == first.read_bytes()
    second = tmp_path / "second.csv"
    run_ensemble(ensemble_config("kvasir", kvasir_root / "test", [str(tmp_path / "m" / "fold0")], second,
                                 thresholds=0.3, **extra), quiet=True)
    looser = [decode(r.rle, (64, 64)).sum() for r in read_submission(second)]
    stricter = [decode(r.rle, (64, 64)).sum() for r in read_submission(first)]
    assert all(a >= b for a, b in zip(looser, stricter)) and sum(looser) > sum(stricter)


def test_the_cache_changes_nothing_and_is_keyed_by_content(kvasir_root, tmp_path):
    """A sliding-window and a resize member: the CSV with a cache (first run, which fills it, and a re-run, which
    reads it) is byte-equal to the CSV without one; entries sit on each member's own grid in float16, one per
    member and distinct image, so renamed images reuse them."""
    make_conv_run(tmp_path / "w" / "fold0", "kvasir", ("polyp",), image_size=32, seed=13, inference="sliding_window")
    make_conv_run(tmp_path / "r" / "fold0", "kvasir", ("polyp",), image_size=32, seed=14)
    members = [str(tmp_path / m / "fold0") for m in "wr"]
    cached = {"cache_dir": str(tmp_path / "cache")}

    def csv_bytes(name: str, root: Path = kvasir_root / "test", **extra) -> bytes:
        return run_ensemble(ensemble_config("kvasir", root, members, tmp_path / f"{name}.csv", **extra),
                            quiet=True).read_bytes()

    without = csv_bytes("plain")
    assert csv_bytes("first", **cached) == without and csv_bytes("again", **cached) == without
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(entries) == 8 and {np.load(e).dtype for e in entries} == {np.dtype(np.float16)}
    assert sorted({np.load(e).shape for e in entries}) == [(1, 32, 32), (1, 64, 64)]  # resize grid, full size
    renamed = tmp_path / "renamed" / "images"
    renamed.mkdir(parents=True)
    for image in sorted((kvasir_root / "test" / "images").iterdir()):
        shutil.copy(image, renamed / f"x{image.name}")
    csv_bytes("renamed", renamed.parent, **cached)
    assert sorted((tmp_path / "cache").rglob("*.npy")) == entries


def test_relative_weights_of_any_magnitude_vote_as_they_say(kvasir_root, tmp_path):
    """Weights 1e-50 : 1e-50 (which underflow in float32) vote as 1 : 1, and 1e-50 : 2e-50 as 1 : 2."""
    make_conv_run(tmp_path / "a" / "fold0", "kvasir", ("polyp",), image_size=32, seed=13)
    make_conv_run(tmp_path / "b" / "fold0", "kvasir", ("polyp",), image_size=32, seed=14)

    def csv_text(name: str, wa: float, wb: float) -> str:
        members = [{"path": str(tmp_path / "a" / "fold0"), "weight": wa},
                   {"path": str(tmp_path / "b" / "fold0"), "weight": wb}]
        return run_ensemble(ensemble_config("kvasir", kvasir_root / "test", members, tmp_path / f"{name}.csv"),
                            quiet=True).read_text()

    uniform = csv_text("uniform", 1, 1)
    assert any(row.split(",")[2] for row in uniform.splitlines()[1:])  # some polyp found
    assert csv_text("tiny", 1e-50, 1e-50) == uniform
    assert csv_text("tiny-uneven", 1e-50, 2e-50) == csv_text("uneven", 1, 2)


def test_batched_ensemble_equals_one_image_at_a_time(handbone_root, tmp_path):
    classes = get_task("handbone", handbone_root).classes
    make_conv_run(tmp_path / "resize" / "fold0", "handbone", classes, image_size=64, seed=14)
    make_conv_run(tmp_path / "window" / "fold0", "handbone", classes, image_size=64, seed=15,
                  inference="sliding_window", sw_batch_size=3)
    members = [str(tmp_path / "resize" / "fold0"), str(tmp_path / "window" / "fold0")]
    outputs = [run_ensemble(ensemble_config("handbone", handbone_root, members, tmp_path / f"b{size}.csv",
                                            batch_size=size), quiet=True).read_bytes() for size in (1, 3)]
    assert outputs[0] == outputs[1] and len(outputs[0]) > 1000


def test_checkpoint_of_another_architecture_is_one_line(kvasir_root, tmp_path, run_cli):
    import json
    make_stub_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), size=32, seed=8)
    state_path = tmp_path / "m" / "fold0" / "state.json"
    state = json.loads(state_path.read_text())
    state["config"]["model"] = {"name": "effisegnet-b0", "params": {"ch": 8}}
    state_path.write_text(json.dumps(state))
    csv = tmp_path / "x.csv"
    config = tmp_path / "ens.yaml"
    config.write_text(f"task: kvasir\nmembers: ['{tmp_path / 'm' / 'fold0'}']\ndata: {{root: {kvasir_root / 'test'}}}\n"
                      f"output: {{csv: {csv}}}\n")
    code, _, err = run_cli("ensemble", "--config", config)
    assert code == 2 and "another architecture" in err and err.count("\n") == 1 and not csv.exists()


def test_empty_test_folder_and_unmatched_glob_are_one_line(kvasir_root, tmp_path, run_cli):
    (tmp_path / "empty" / "images").mkdir(parents=True)
    make_stub_run(tmp_path / "m" / "fold0", "kvasir", ("polyp",), size=32, seed=9)
    config = tmp_path / "ens.yaml"
    for members, root, fragment in ((str(tmp_path / "m" / "fold*"), tmp_path / "empty", "no images found"),
                                    (str(tmp_path / "nothing*"), kvasir_root / "test", "matches no run folder")):
        config.write_text(f"task: kvasir\nmembers: ['{members}']\ndata: {{root: {root}}}\n"
                          f"output: {{csv: {tmp_path / 'x.csv'}}}\n")
        code, _, err = run_cli("ensemble", "--config", config)
        assert code == 2 and fragment in err

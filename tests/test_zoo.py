"""The four families of the zoo on one hand-bone fold at 128 px, each with its tiny config's own epochs:
each alone beats chance on held-out hands, and their soft vote scores above a quarter."""
from pathlib import Path

import pytest
import torch

from configs.load import load_config
from configs.schema import EnsembleConfig
from ensemble.run import run_ensemble
from evaluate.score import score_csv
from folds.train import train_fold
from submit.validate import validate_csv

ROOT = Path(__file__).resolve().parents[1]
TRAINED_HERE = ("tiny", "tiny_effisegnet", "tiny_yolo")  # tiny_swinunetr is the shared `swin_run`


@pytest.fixture(scope="module")
def zoo(hand_config, swin_run) -> dict[str, Path]:
    """Fold 0 of every family: run folder by config name."""
    runs = {name: train_fold(hand_config(name, "data.image_size=128"), fold=0, quiet=True).run_dir
            for name in TRAINED_HERE}
    return {**runs, "tiny_swinunetr": swin_run.run_dir}


def holdout_dice(hands, members: list[Path], csv_name: str) -> float:
    """Soft-vote `members` over the holdout hands into a CSV, check it is valid and score it."""
    work, _, holdout = hands
    config = load_config(ROOT / "configs/ensemble/handbone.yaml", EnsembleConfig,
                         [f"members=[{', '.join(map(str, members))}]", f"data.root={holdout}",
                          f"output.csv={work / csv_name}", "thresholds=0.5"])
    csv = run_ensemble(config, quiet=True)
    assert validate_csv("handbone", csv, holdout) == 4
    return score_csv("handbone", csv, holdout, quiet=True).mean_dice


@pytest.mark.parametrize("name", [*TRAINED_HERE, "tiny_swinunetr"])
def test_each_family_alone_beats_chance_on_held_out_hands(zoo, hands, name):
    assert holdout_dice(hands, [zoo[name]], f"{name}.csv") > 0.05  # empty or random masks score about 0.005


def test_the_four_families_vote_together_above_a_quarter(zoo, hands):
    assert holdout_dice(hands, list(zoo.values()), "zoo.csv") > 0.25


def test_box_prior_starts_ultralytics_boxes_that_many_strides_from_their_anchor(hands, hand_config, monkeypatch):
    """Read back through ultralytics' own distribution-focal-loss decoder, the box head of the network
    it is about to train (and of its EMA copy) starts every side at model.box_prior strides."""
    from ultralytics.utils.callbacks import base

    class Started(Exception):
        pass

    distances = []

    def inspect(trainer):
        for network in (trainer.model, trainer.ema.ema):
            head = network.model[-1]
            for box in head.one2many["box_head"]:
                distances.append(head.dfl(box[-1].bias.detach()[None, :, None].float()).flatten())
        raise Started

    monkeypatch.setitem(base.default_callbacks, "on_train_start", [inspect])
    with pytest.raises(Started):
        train_fold(hand_config("tiny_yolo", "model.box_prior=1.25", f"run.dir={hands[0] / 'prior'}"), fold=0,
                   quiet=True)
    assert len(distances) == 6  # three strides, two networks
    torch.testing.assert_close(torch.stack(distances), torch.full((6, 4), 1.25), atol=1e-4, rtol=0)

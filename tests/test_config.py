from pathlib import Path

import pytest

from configs.schema import MemberConfig, load_config
from errors import UserError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("[hk]*/*.yaml")))
def test_shipped_member_configs_validate(path):
    config = load_config(path, MemberConfig)
    assert config.train.epochs > 0


def test_overrides_are_typed():
    config = load_config(ROOT / "configs/kvasir/tiny.yaml", MemberConfig,
                         ["train.epochs=3", "data.image_size=96", "run.dir=/tmp/x", "optim.lr=0.5"])
    assert (config.train.epochs, config.data.image_size, config.run.dir, config.optim.lr) == (3, 96, Path("/tmp/x"), 0.5)


@pytest.mark.parametrize("override, fragment", [
    ("train.epoch=3", "train.epoch: unknown key"),
    ("train.epochs=three", "train.epochs: Input should be a valid integer"),
    ("data.image_size=100", "data.image_size"),
    ("train.loss={bce: 1, hinge: 2}", "unknown loss term 'hinge'"),
    ("novalue", "--set needs key=value"),
])
def test_bad_overrides_are_one_line(override, fragment):
    with pytest.raises(UserError, match=fragment.replace("{", r"\{")):
        load_config(ROOT / "configs/kvasir/tiny.yaml", MemberConfig, [override])


def test_missing_config_exit_2(run_cli, tmp_path):
    code, _, err = run_cli("train-fold", "--config", tmp_path / "nope.yaml", "--fold", "0")
    assert code == 2 and "cannot read config" in err and "nope.yaml" in err


def test_set_takes_several_pairs_and_repeats(kvasir_root, tmp_path, run_cli):
    """`--set a=1 b=2 --set c=3` (DESIGN.md section 4): every pair reaches the config."""
    code, _, err = run_cli("train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0",
                           "--set", f"data.root={kvasir_root}", f"data.splits={tmp_path / 'none.json'}",
                           "--set", "train.epochs=0")
    assert code == 2 and "train.epochs" in err  # the third pair was read and validated (epochs must be > 0)
    code, _, err = run_cli("train-fold", "--config", ROOT / "configs/kvasir/tiny.yaml", "--fold", "0",
                           "--set", f"data.root={kvasir_root}", f"data.splits={tmp_path / 'none.json'}")
    assert code == 2 and "none.json" in err  # the second pair of one --set was applied

from pathlib import Path

import pytest

from configs.load import load_config
from configs.schema import MemberConfig
from errors import UserError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("[hk]*/**/*.yaml")))
def test_shipped_member_configs_validate(path):
    config = load_config(path, MemberConfig)
    assert config.train.epochs > 0


def test_the_zoo_spans_three_encoders_four_decoders_and_two_resolutions():
    recipes = [load_config(p, MemberConfig) for p in sorted((ROOT / "configs/kvasir/zoo").glob("*.yaml"))]
    encoders = {str(r.model.params.get("encoder_name", r.model.params.get("encoder"))).removeprefix("tu-")
                for r in recipes}
    decoders = {r.model.params.get("arch", r.model.name) for r in recipes}
    assert encoders == {f"tf_efficientnet_lite{i}" for i in range(3)}
    assert {"Unet", "UnetPlusPlus", "FPN", "effisegnet-timm"} <= decoders and len(recipes) >= 6
    assert len({r.data.image_size for r in recipes}) >= 2
    for recipe, path in zip(recipes, sorted((ROOT / "configs/kvasir/zoo").glob("*.yaml"))):
        encoder = recipe.model.params.get("encoder_name", recipe.model.params.get("encoder")).removeprefix("tu-")
        assert path.stem.startswith(encoder.removeprefix("tf_efficientnet_"))
        assert path.stem.endswith(f"_{recipe.data.image_size}") and recipe.model.weights.name.startswith(encoder)


def test_a_config_extends_its_base_section_by_section(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text((ROOT / "configs/kvasir/tiny.yaml").read_text())
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "child.yaml"
    child.write_text("base: ../base.yaml\ntrain: {epochs: 9}\n")
    config, original = load_config(child, MemberConfig), load_config(base, MemberConfig)
    assert config.train.epochs == 9 and config.train.batch_size == original.train.batch_size
    assert config.model == original.model
    child.write_text("base: child.yaml\n")
    with pytest.raises(UserError, match="extends itself"):
        load_config(child, MemberConfig)
    child.write_text("base: ../missing.yaml\n")
    with pytest.raises(UserError, match="cannot read config"):
        load_config(child, MemberConfig)


@pytest.mark.parametrize("override, fragment", [
    ("train.threads=-1", "train.threads"), ("optim.momentum=-1", "optim.momentum"),
    ("model.tta_scales=[.inf]", "model.tta_scales.0"), ("model.tta_scales=[1000]", "model.tta_scales.0"),
    ("data.preprocess=[{name: clahe, tile_grid: 100000}]", "tile_grid"), ("optim.lr=.nan", "optim.lr"),
    ("augment.affine_scale=[1.5, 0.5]", "runs backwards"), ("train.loss={dice: .inf}", "train.loss"),
])
def test_numbers_out_of_range_are_refused_by_the_config(override, fragment):
    with pytest.raises(UserError, match=fragment):
        load_config(ROOT / "configs/kvasir/tiny.yaml", MemberConfig, [override])


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

import pytest
import torch

import models
from errors import UserError

PUBLISHED_PARAMS = {0: 4_156_860, 1: 6_662_496, 2: 7_864_130, 3: 10_877_800,
                    4: 17_757_832, 5: 28_577_648, 6: 41_002_520, 7: 64_083_728}


@pytest.mark.parametrize("variant", range(8))
def test_effisegnet_parameter_counts(variant):
    model = models.build(f"effisegnet-b{variant}", ch=32, num_classes=1)
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMS[variant]


@pytest.mark.parametrize("size", [(64, 64), (96, 160), (224, 224)])
def test_effisegnet_any_size_divisible_by_32(size):
    model = models.build("effisegnet-b0", ch=8, num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, *size)).shape == (1, 3, *size)


def test_effisegnet_deep_supervision_heads_in_training_only():
    model = models.build("effisegnet-b0", ch=8, num_classes=2, deep_supervision=True)
    outputs = model(torch.zeros(2, 3, 64, 64))
    assert isinstance(outputs, list) and len(outputs) == 6 and all(o.shape == (2, 2, 64, 64) for o in outputs)
    assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 2, 64, 64)


@pytest.mark.parametrize("name, kwargs", [
    ("unetplusplus", {"encoder_name": "resnet18"}),
    ("unetplusplus", {"encoder_name": "tu-efficientnet_b0"}),
    ("swinunetr", {"feature_size": 12}),
])
def test_zoo_members_build_and_run(name, kwargs):
    model = models.build(name, num_classes=29, **kwargs).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 29, 64, 64)


def test_unknown_model_and_bad_kwarg_are_user_errors():
    with pytest.raises(UserError, match="unknown model 'unet9'"):
        models.build("unet9")
    with pytest.raises(UserError, match="effisegnet-b0"):
        models.build("effisegnet-b0", depth=3)


def test_weights_file_loads_and_rejects_other_architecture(tmp_path):
    from safetensors.torch import save_file

    from models.pretrained import load_weights
    source = models.build("effisegnet-b0", ch=8)
    save_file({k: v.contiguous() for k, v in source.encoder.state_dict().items()}, str(tmp_path / "enc.safetensors"))
    target = models.build("effisegnet-b0", ch=8)
    load_weights(target, tmp_path / "enc.safetensors")
    key = "_conv_stem.weight"
    assert torch.equal(target.encoder.state_dict()[key], source.encoder.state_dict()[key])
    other = models.build("unetplusplus", encoder_name="resnet18")
    with pytest.raises(UserError, match="do not fit"):
        load_weights(other, tmp_path / "enc.safetensors")


def test_yolov8_seg_builds_offline_with_the_class_count():
    model = models.build("yolov8-seg", num_classes=29, scale="n")
    assert model.yaml["nc"] == 29 and model.model[-1].nc == 29
    with pytest.raises(UserError, match="scale"):
        models.build("yolov8-seg", scale="q")


def test_a_model_name_registered_twice_is_refused():
    from models.registry import register

    with pytest.raises(ValueError, match="'smp' is registered twice"):
        register("smp")(lambda **kwargs: None)


def test_options_are_checked_before_building_and_a_bug_inside_surfaces_as_one():
    from models.registry import registered

    built = []

    def constructor(num_classes: int = 1, width: int = 4, pretrained: bool = False):
        built.append(width)
        return {}["a bug"]  # a KeyError inside the constructor, as a real defect would raise

    with registered("buggy", constructor):
        with pytest.raises(UserError, match="width: model 'buggy' expects int"):
            models.build("buggy", width="wide")
        with pytest.raises(UserError, match="height: model 'buggy' has no option 'height'; it takes num_classes, "
                                            "width, pretrained"):
            models.build("buggy", height=3)
        assert built == []  # refused before the constructor ran
        with pytest.raises(KeyError, match="a bug"):  # not "rejects its options": a bug is a bug
            models.build("buggy", width="8")  # YAML's string for an int is converted
        assert built == [8]

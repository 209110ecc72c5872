from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch

from configs.load import load_config
from configs.schema import AugmentConfig, MemberConfig, OptimConfig, SchedulerConfig
from data.augment import black_out_top_left, build_transform, normalize
from folds.optim import build_optimizer, build_scheduler


def test_black_rectangle_covers_the_top_left_30_percent():
    image = np.full((10, 20, 3), 200, np.uint8)
    out = black_out_top_left(image)
    assert (out[:3, :6] == 0).all()
    assert (out[3:] == 200).all() and (out[:, 6:] == 200).all()
    assert (image == 200).all()  # the input is not modified


def test_transform_moves_image_and_every_mask_channel_together():
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :8] = 255
    mask = np.zeros((32, 32, 29), np.uint8)
    mask[:, :8, 5] = 1
    out = build_transform(AugmentConfig(hflip=1.0), seed=0)(image=image, mask=mask)
    assert (out["image"][:, -8:] == 255).all() and (out["mask"][:, -8:, 5] == 1).all()
    assert out["mask"].shape == (32, 32, 29) and out["mask"].sum() == mask.sum()
    everything = AugmentConfig(vflip=0.5, rotate=0.5, affine=0.5, color_jitter=0.5, clahe=0.5, elastic=0.5,
                               black_rectangle=0.5)
    assert len(build_transform(everything, seed=0).transforms) == 8  # hflip + the seven above


def test_the_official_recipe_config_reaches_albumentations_with_its_limits():
    config = load_config(Path(__file__).resolve().parents[1] / "configs/kvasir/effisegnet_b0.yaml", MemberConfig)
    found = {type(t).__name__: t for t in build_transform(config.augment, seed=0).transforms}
    assert set(found) == {"HorizontalFlip", "VerticalFlip", "Affine", "ColorJitter", "ElasticTransform"}
    assert found["Affine"].rotate == (-90, 90) and found["Affine"].translate_percent["x"] == (-0.125, 0.125)
    assert found["Affine"].scale["x"] == (0.5, 1.5)
    jitter = found["ColorJitter"]
    assert (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue) == (
        (0.6, 1.6), (0.8, 1.2), (0.9, 1.1), (-0.01, 0.01))
    assert (found["ElasticTransform"].alpha, found["ElasticTransform"].sigma) == (1, 50)


def test_jitter_brightness_is_a_factor_range():
    grey = np.full((8, 8, 3), 100, np.uint8)
    only_brightness = AugmentConfig(hflip=0, color_jitter=1.0, jitter_brightness=(1.5, 1.5), jitter_contrast=0,
                                    jitter_saturation=0, jitter_hue=0)
    transform = build_transform(only_brightness, seed=0)
    assert isinstance(transform.transforms[0], A.ColorJitter)
    assert (transform(image=grey)["image"] == 150).all()


def test_normalize_uses_imagenet_statistics():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    expected = torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225])
    assert torch.allclose(normalize(x)[0, :, 0, 0], expected, atol=1e-5)


@pytest.mark.parametrize("name, warmup, expected", [
    ("cosine", 0, [1.0, 0.75, 0.25, 0.0]),
    ("cosine", 2, [1 / 3, 2 / 3, 1.0, 0.0]),
    ("step", 0, [1.0, 0.1, 0.01, 0.001]),
    ("none", 0, [1.0, 1.0, 1.0, 1.0]),
])
def test_scheduler_learning_rates(name, warmup, expected):
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimConfig(name="sgd", lr=1.0))
    scheduler = build_scheduler(optimizer, SchedulerConfig(name=name, warmup_epochs=warmup, step_size=1,
                                                           gamma=0.1, min_lr=0.0), epochs=3)
    seen = []
    for _ in range(4):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx(expected, abs=1e-9)


def test_plateau_scheduler_reduces_when_dice_stalls():
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimConfig(name="adam", lr=1.0))
    scheduler = build_scheduler(optimizer, SchedulerConfig(name="plateau", patience=1, gamma=0.5), epochs=10)
    for dice in (0.5, 0.5, 0.5):
        scheduler.step(dice)
    assert optimizer.param_groups[0]["lr"] == 0.5

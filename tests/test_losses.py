import math

import pytest
import torch

from models.losses import CombinedLoss, make_term

LN3 = math.log(3)
LOGITS = torch.tensor([[[[0.0, LN3], [-LN3, 0.0]]]])   # sigmoid: 0.5, 0.75, 0.25, 0.5
TARGET = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
P = [0.5, 0.75, 0.25, 0.5]
T = [1, 1, 0, 0]
BCE = -(math.log(0.5) + math.log(0.75) + math.log(0.75) + math.log(0.5)) / 4
TP, FP, FN = 0.5 + 0.75, 0.25 + 0.5, 0.5 + 0.25
DICE = 1 - 2 * TP / (sum(P) + sum(T))
TVERSKY = 1 - TP / (TP + 0.3 * FP + 0.7 * FN)
FOCAL = sum(-((1 - pt) ** 2) * math.log(pt) for pt in (0.5, 0.75, 0.75, 0.5)) / 4


@pytest.mark.parametrize("name, expected", [
    ("bce", BCE),
    ("dice", DICE),
    ("bce_dice", BCE + DICE),
    ("dice_ce", DICE + BCE),
    ("focal", FOCAL),
    ("tversky", TVERSKY),
    ("focal_tversky", TVERSKY ** 0.75),
])
def test_loss_matches_hand_computed_value(name, expected):
    assert float(make_term(name, 1)(LOGITS, TARGET)) == pytest.approx(expected, abs=1e-4)


def test_near_pixel_diff_hand_computed():
    logits = torch.zeros(1, 1, 5, 5)
    logits[0, 0, 0, 0] = 30.0  # p = 1 there, 0.5 elsewhere: (1 - 0.5)^2 = 0.25 per pair touching it
    # pairs 4 apart: horizontal 5 (one touches), vertical 5 (one), diagonal 1 (one), anti-diagonal 1 (none)
    expected = (0.25 / 5 + 0.25 / 5 + 0.25 / 1 + 0.0) / 4
    assert float(make_term("near_pixel", 1)(logits, torch.zeros_like(logits))) == pytest.approx(expected, abs=1e-6)


def test_combined_weights_and_deep_supervision():
    loss = CombinedLoss({"bce": 1.0, "dice": 0.5, "tversky": 0.0}, 1)
    assert float(loss(LOGITS, TARGET)) == pytest.approx(BCE + 0.5 * DICE, abs=1e-4)
    zeros = torch.zeros_like(LOGITS)  # a second head at p = 0.5: bce ln2, dice 1 - 2*1/(2+2) = 0.5
    expected = ((BCE + 0.5 * DICE) + (math.log(2) + 0.5 * 0.5)) / 2
    assert float(loss([LOGITS, zeros], TARGET)) == pytest.approx(expected, abs=1e-4)


def test_dice_ce_refuses_multilabel():
    from errors import UserError
    with pytest.raises(UserError, match="bce_dice"):
        make_term("dice_ce", 29)

import numpy as np
import pytest

from errors import UserError
from submit.rle import decode, encode


def reference_encode(mask: np.ndarray) -> str:
    """The public baseline's padded-flatten encoder, as an independent truth."""
    pixels = np.concatenate([[0], mask.flatten(), [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    return " ".join(str(x) for x in runs)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 4), (64, 64), (33, 97)])
def test_round_trip_random(shape):
    rng = np.random.default_rng(sum(shape))
    for density in (0.05, 0.5, 0.95):
        mask = rng.random(shape) < density
        rle = encode(mask)
        assert rle == reference_encode(mask)
        np.testing.assert_array_equal(decode(rle, shape), mask)


def test_edge_masks():
    shape = (4, 6)
    empty, full = np.zeros(shape, bool), np.ones(shape, bool)
    first, last, single = empty.copy(), empty.copy(), empty.copy()
    first[0, 0] = True
    last[-1, -1] = True
    single[2, 3] = True
    expected = {"": empty, "1 24": full, "1 1": first, "24 1": last, "16 1": single}
    for rle, mask in expected.items():
        assert encode(mask) == rle
        np.testing.assert_array_equal(decode(rle, shape), mask)


def test_hand_written_strings():
    mask = np.array([[0, 1, 1, 0, 0],
                     [0, 0, 0, 1, 1],
                     [1, 0, 1, 0, 1]], dtype=bool)
    # row-major flat: 0 1 1 0 0 | 0 0 0 1 1 | 1 0 1 0 1 -> runs start 2 (len 2), 9 (len 3), 13, 15
    assert encode(mask) == "2 2 9 3 13 1 15 1"
    wide = np.zeros((2, 3), bool)
    wide[:, 2] = True  # column runs are separate in row-major order
    assert encode(wide) == "3 1 6 1"


@pytest.mark.parametrize("rle, fragment", [
    ("1 2 3", "odd number"),
    ("1 x", "not an integer"),
    ("1.5 2", "not an integer"),
    ("1 0", "non-positive"),
    ("1 -2", "non-positive"),
    ("0 2", "below 1"),
    ("5 3 6 1", "overlaps"),
    ("10 2 3 1", "unsorted"),
    ("23 3", "past the image"),
    ("1 99999999999999999999", "integer too large"),
    ("1 \uff12", "not an integer"),  # a full-width digit is not ASCII
    ("1 2 x 4", "not an integer"),
    ("-1 2", "below 1"),
])
def test_decode_rejects(rle, fragment):
    with pytest.raises(UserError, match=fragment):
        decode(rle, (4, 6))


@pytest.mark.parametrize("rle", ["  2 2  9 3 ", "2\t2 9\n3", "0002 2 9 0003"])
def test_decode_accepts_any_whitespace_and_leading_zeros(rle):
    expected = np.zeros(24, bool)
    expected[[1, 2, 8, 9, 10]] = True
    np.testing.assert_array_equal(decode(rle, (4, 6)).ravel(), expected)


def test_decode_matches_a_plain_loop_on_adjacent_and_edge_runs():
    """Runs touching each other, the first and the last pixel, against a per-run slice loop."""
    rle = "1 3 4 2 10 5 20 5"
    truth = np.zeros(24, bool)
    for start, length in ((1, 3), (4, 2), (10, 5), (20, 5)):
        truth[start - 1:start - 1 + length] = True
    np.testing.assert_array_equal(decode(rle, (4, 6)).ravel(), truth)


@pytest.mark.parametrize("rle", ["", " ", "\t \n"])
def test_an_empty_or_blank_string_is_an_empty_mask(rle):
    mask = decode(rle, (4, 6))
    assert mask.shape == (4, 6) and not mask.any()

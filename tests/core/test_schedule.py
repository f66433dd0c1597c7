import pytest

from llada_studio.core.schedule import block_bounds, num_transfer_tokens


@pytest.mark.parametrize(
    "masked, steps, expected",
    [
        (32, 8, [4] * 8),
        (10, 4, [3, 3, 2, 2]),
        (32, 5, [7, 7, 6, 6, 6]),
        (3, 4, [1, 1, 1, 0]),
        (0, 3, [0, 0, 0]),
    ],
)
def test_schedule_vectors(masked, steps, expected):
    assert num_transfer_tokens(masked, steps) == expected
    assert sum(expected) == masked


def test_schedule_rejects_bad_input():
    with pytest.raises(ValueError):
        num_transfer_tokens(4, 0)
    with pytest.raises(ValueError):
        num_transfer_tokens(-1, 2)


def test_block_bounds():
    assert block_bounds(5, 8, 0) == (5, 13)
    assert block_bounds(5, 8, 2) == (21, 29)

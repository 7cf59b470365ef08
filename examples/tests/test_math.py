import time

import pytest


def test_add():
    assert 1 + 1 == 2


def test_div():
    assert 7 / 2 == 3.5


@pytest.mark.parametrize("a,b,total", [(1, 2, 3), (2, 2, 4), (10, -3, 7), (0.5, 0.25, 0.75)])
def test_sum(a, b, total):
    assert a + b == total


@pytest.mark.slow
def test_big_sum():
    time.sleep(1.0)
    assert sum(range(1_000_000)) == 499999500000

import time


def test_sorted():
    time.sleep(0.2)
    assert sorted([3, 1, 2]) == [1, 2, 3]


def test_reversed():
    time.sleep(0.2)
    assert list(reversed([1, 2, 3])) == [3, 2, 1]


def test_comprehension():
    assert [x * x for x in range(4)] == [0, 1, 4, 9]

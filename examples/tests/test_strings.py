import time

import pytest


class TestStrings:
    def test_upper(self):
        assert "offload".upper() == "OFFLOAD"

    def test_split(self):
        assert "a b c".split() == ["a", "b", "c"]

    @pytest.mark.parametrize("word", ["hello world", "it's", "naïve"])
    def test_roundtrip(self, word):
        assert word.encode("utf-8").decode("utf-8") == word


@pytest.mark.slow
def test_slow_join():
    time.sleep(1.0)
    assert ",".join(["x"] * 3) == "x,x,x"


@pytest.mark.skip(reason="shows how skips are reported")
def test_skipped():
    assert False

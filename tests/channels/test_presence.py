from tidings.channels.presence import snapshot


def test_snapshot_shape() -> None:
    assert snapshot({"1": {"n": 1}, "2": None}) == {"ids": ["1", "2"], "hash": {"1": {"n": 1}, "2": None}, "count": 2}


def test_no_roster_for_other_channels() -> None:
    assert snapshot(None) is None

from tidings.channels.presence import Roster


def test_member_added_once_per_user_and_removed_with_last_socket():
    roster = Roster()
    assert roster.add("alice", "1.1", {"name": "A"}) is True
    assert roster.add("alice", "1.2", {"name": "A"}) is False
    assert roster.add("bob", "2.1", None) is True
    assert len(roster) == 2
    assert roster.remove("alice", "1.1") is False
    assert "alice" in roster
    assert roster.remove("alice", "1.2") is True
    assert "alice" not in roster
    assert roster.remove("alice", "1.2") is False


def test_snapshot_shape():
    roster = Roster()
    roster.add("1", "s1", {"n": 1})
    roster.add("2", "s2", None)
    assert roster.snapshot() == {"ids": ["1", "2"], "hash": {"1": {"n": 1}, "2": None}, "count": 2}

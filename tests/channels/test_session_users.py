"""Users at scale in the sans-I/O core: session lifetimes (expires_at, max_session_seconds), the per-app watchlist
limit, and a live watchlist body. The client sends X, the server answers Y."""

from __future__ import annotations

from typing import Any

import pytest

from tests.channels.test_protocol import SOCKET, frame, sent, signin_data
from tidings.channels import protocol as p
from tidings.channels import signin
from tidings.channels.apps import App, AppLimits
from tidings.channels.codes import Code
from tidings.errors import ProtocolError

WALL = 1_700_000_000.0  # the Unix time the fake clock shows when the session's monotonic clock reads 0


def timing() -> p.Timing:
    clock = {"offset": WALL}
    return p.Timing(120.0, 30.0, 30.0, wall_clock=lambda: clock["offset"])


def app(**limits: Any) -> App:
    return App(id="1", key="key", secret="secret", limits=AppLimits(**limits))


def signed_in_session(user: dict[str, Any], now: float = 0.0, **limits: Any) -> p.Session:
    s = p.Session(app(**limits), SOCKET, 0.0, timing())
    [action] = s.receive_text(frame("pusher:signin", signin_data(user)), now)
    assert isinstance(action, p.SignInUser)
    s.signed_in(action.result)
    return s


def test_expires_at_closes_the_session_with_4009_when_it_comes() -> None:
    s = signed_in_session({"id": "alice", "expires_at": WALL + 60}, now=0.0)
    assert s.tick(59.0) == []
    actions = s.tick(60.0)
    expired = "The signed-in session expired."
    assert sent(actions[:1]) == [{"event": "pusher:error", "data": {"code": 4009, "message": expired}}]
    assert actions[1] == p.Close(Code.UNAUTHORIZED, "The signed-in session expired.")
    assert s.tick(61.0) == []  # closed once


def test_a_sign_in_already_past_its_expires_at_is_refused() -> None:
    s = p.Session(app(), SOCKET, 0.0, timing())
    actions = s.receive_text(frame("pusher:signin", signin_data({"id": "alice", "expires_at": WALL - 1})), 0.0)
    assert sent(actions[:1])[0]["data"]["code"] == 4009
    assert "expired" in sent(actions[:1])[0]["data"]["message"]
    assert isinstance(actions[1], p.Close) and actions[1].code == 4009


@pytest.mark.parametrize("bad", ["soon", True, [1], {"at": 1}])
def test_expires_at_must_be_a_number(bad: object) -> None:
    s = p.Session(app(), SOCKET, 0.0, timing())
    actions = s.receive_text(frame("pusher:signin", signin_data({"id": "alice", "expires_at": bad})), 0.0)
    assert "expires_at must be a number" in sent(actions[:1])[0]["data"]["message"]


def test_max_session_seconds_counts_from_the_sign_in_and_the_earlier_end_wins() -> None:
    s = signed_in_session({"id": "alice"}, now=10.0, max_session_seconds=100)
    assert s.session_deadline == 110.0
    assert s.tick(109.0) == [] and s.tick(110.0)[1] == p.Close(4009, "The signed-in session expired.")
    s = signed_in_session({"id": "alice", "expires_at": WALL + 30}, now=0.0, max_session_seconds=100)
    assert s.session_deadline == 30.0
    s = signed_in_session({"id": "alice", "expires_at": WALL + 300}, now=0.0, max_session_seconds=100)
    assert s.session_deadline == 100.0


def test_no_expiry_no_deadline() -> None:
    assert signed_in_session({"id": "alice"}).session_deadline is None


def test_the_watchlist_limit_is_the_apps() -> None:
    ids = [f"u{i}" for i in range(250)]
    result = signin.verify(app(), SOCKET, signin_data({"id": "a", "watchlist": ids}))
    assert len(result.watchlist) == 100 and result.watchlist_truncated  # Pusher's 100 by default
    result = signin.verify(app(max_watchlist_size=10_000), SOCKET, signin_data({"id": "a", "watchlist": ids}))
    assert result.watchlist == tuple(ids) and not result.watchlist_truncated


def test_a_live_watchlist_body() -> None:
    big = app(max_watchlist_size=10_000)
    ids = [f"u{i}" for i in range(10_000)]
    assert signin.check_watchlist(big, {"watchlist": [*ids, "u1"]}) == tuple(ids)  # deduplicated, in order
    assert signin.check_watchlist(big, {"watchlist": []}) == ()
    for body, message in [
        ({"watchlist": "u1"}, "Body must be"), ([], "Body must be"), ({"watchlist": ["ok", ""]}, "non-empty"),
        ({"watchlist": [1]}, "non-empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            signin.check_watchlist(big, body)
    with pytest.raises(ValueError, match="the limit is 100"):
        signin.check_watchlist(app(), {"watchlist": ids[:101]})


def test_replacing_the_watchlist_keeps_the_user() -> None:
    s = signed_in_session({"id": "alice", "watchlist": ["bob"]})
    s.watchlist_replaced(("carol", "dan"))
    assert s.user is not None and s.user.id == "alice" and s.user.watchlist == ("carol", "dan")


def test_user_ids_for_the_api() -> None:
    assert signin.check_user_id("alice@example.com") is None
    for bad in ["", "a b", "x" * 200, "a/b"]:
        assert signin.check_user_id(bad) is not None


def test_a_protocol_error_is_not_raised_from_a_past_expiry_check_without_a_clock() -> None:
    # signin.verify without wall_now (callers that only parse) accepts any number.
    result = signin.verify(app(), SOCKET, signin_data({"id": "a", "expires_at": 1}))
    assert result.expires_at == 1.0
    with pytest.raises(ProtocolError):
        signin.verify(app(), SOCKET, signin_data({"id": "a", "expires_at": 1}), wall_now=WALL)

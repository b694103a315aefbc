"""`Adapter.subscribed`: which channels have a subscription anywhere (Beams routing asks it for a page of
`#server-to-user-` channels at once). Run against LocalAdapter and RedisAdapter alike (conftest.py)."""

from __future__ import annotations

import pytest

from tests.adapters.conftest import MakeNode
from tidings.adapters import Adapter, AdapterUnavailable

APP = "app1"


async def test_subscribed_answers_for_each_channel_of_the_batch(adapter: Adapter) -> None:
    alice, bob, carol = "#server-to-user-alice", "#server-to-user-bob", "#server-to-user-carol"
    assert await adapter.subscribed(APP, [alice, bob, carol]) == set()
    await adapter.join(APP, alice, None, False)
    await adapter.join(APP, alice, None, False)  # a second tab
    await adapter.join(APP, carol, None, False)
    await adapter.join("other", bob, None, False)  # another app's bob is not this app's
    assert await adapter.subscribed(APP, [alice, bob, carol]) == {alice, carol}
    assert await adapter.subscribed(APP, []) == set()
    assert await adapter.subscribed(APP, [carol, carol]) == {carol}  # repeated names: one answer

    await adapter.leave(APP, alice, None)
    assert await adapter.subscribed(APP, [alice]) == {alice}  # the other tab is still there
    await adapter.leave(APP, alice, None)
    await adapter.leave(APP, carol, None)
    assert await adapter.subscribed(APP, [alice, bob, carol]) == set()


async def test_subscribed_sees_other_nodes(make_node: MakeNode) -> None:
    one, _ = await make_node()
    two, _ = await make_node()
    await two.join(APP, "#server-to-user-alice", None, False)
    assert await one.subscribed(APP, ["#server-to-user-alice", "#server-to-user-bob"]) == {"#server-to-user-alice"}


@pytest.mark.slow
async def test_subscribed_fails_as_unavailable_when_redis_is_paused() -> None:
    from tests.support.outage import PrivateRedis
    from tidings.adapters.redis import RedisAdapter

    with PrivateRedis.running() as server:
        node = RedisAdapter(server.url, prefix="subscribed", timeout=1.0)
        await node.start(lambda m, own: None)
        try:
            server.pause()
            with pytest.raises(AdapterUnavailable):
                await node.subscribed(APP, ["#server-to-user-alice"])
        finally:
            server.resume()
            await node.close()

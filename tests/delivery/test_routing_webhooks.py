"""v1.PublishToUsersAttempt for a routed publish (docs/user-first-delivery.md): users sent the event over Channels
are listed in `users_delivered_to_channels`, in none of Beams' three lists; the pushed users as before."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from tests.delivery.test_beams_webhooks import World, delivered, post, sink, verify, wait_sink, world
from tests.support.webhook_sink import WebhookSink
from tidings.beams import events as ev
from tidings.beams.models import Publish
from tidings.webhooks.runner import Post

__all__ = ["post", "sink", "world"]  # fixtures


def routed(world: World, *targets: str) -> Publish:
    pub = Publish(id=f"pubid-{uuid.uuid4()}", instance_id=world.instance.id, kind="users", targets=targets,
                  payload={"web": {"notification": {"title": "hi"}}, "channels": {"event": "e", "data": "{}"}})
    world.publishes[pub.id] = pub
    return pub


def route(world: World, pub: Publish, user: str, kind: str) -> ev.BeamsUserRouted:
    return ev.BeamsUserRouted(world.instance.id, pub.id, user, kind, "app-1")


async def test_socket_users_are_reported_apart_from_pushed_ones(world: World, sink: WebhookSink, post: Post) -> None:
    sender = world.sender(post)
    task = await world.running(sender)
    iid = world.instance.id
    pub = routed(world, "alice", "bob", "carol")
    world.device("alice")  # alice has a device, but was signed in: not pushed
    bob = world.device("bob")
    sender.on_event(ev.BeamsPublishStarted(iid, pub.id, resumed=False))
    sender.on_event(route(world, pub, "alice", "socket"))
    sender.on_event(route(world, pub, "bob", "push"))
    sender.on_event(route(world, pub, "carol", "push"))
    sender.on_event(delivered(world, pub, bob, "sent"))
    sender.on_event(ev.BeamsPublishFinished(iid, pub.id))
    (got,) = await wait_sink(sink, 1)
    task.cancel()
    assert verify(got)["payload"] == {
        "instance_id": iid,
        "publish_id": pub.id,
        "users_delivered_to_gateway": ["bob"],
        "users_no_devices": ["carol"],
        "users_gateway_failed": [],
        "users_delivered_to_channels": ["alice"],
    }


async def test_a_resumed_routed_publish_reads_the_stored_routes(world: World, sink: WebhookSink, post: Post) -> None:
    """The socket route was decided by a worker of another process: the stored route says so, and alice (who has
    a device) is not reported as a failed push."""
    asked: list[str] = []

    async def stored(publish_id: str) -> Mapping[str, str]:
        asked.append(publish_id)
        return {"alice": "socket", "bob": "push"}

    sender = world.sender(post, routes=stored)
    task = await world.running(sender)
    iid = world.instance.id
    pub = routed(world, "alice", "bob")
    world.device("alice")
    world.device("bob")  # its result was emitted elsewhere too
    sender.on_event(ev.BeamsPublishStarted(iid, pub.id, resumed=True))
    sender.on_event(ev.BeamsPublishFinished(iid, pub.id))
    (got,) = await wait_sink(sink, 1)
    task.cancel()
    payload = verify(got)["payload"]
    assert asked == [pub.id]
    assert payload["users_delivered_to_channels"] == ["alice"]
    assert payload["users_gateway_failed"] == ["bob"]


async def test_an_unrouted_publish_keeps_pushers_three_lists(world: World, sink: WebhookSink, post: Post) -> None:
    sender = world.sender(post)
    task = await world.running(sender)
    pub = world.publish("users", "alice")
    sender.on_event(ev.BeamsPublishStarted(world.instance.id, pub.id, resumed=False))
    sender.on_event(ev.BeamsPublishFinished(world.instance.id, pub.id))
    (got,) = await wait_sink(sink, 1)
    task.cancel()
    assert "users_delivered_to_channels" not in verify(got)["payload"]

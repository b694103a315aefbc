"""Delivery results reach Prometheus through the event stream."""

from __future__ import annotations

from tidings.beams import events as ev
from tidings.metrics import Metrics


def test_recorded_results_and_finished_publishes_are_counted() -> None:
    metrics = Metrics()
    for outcome in ("sent", "sent", "removed"):
        metrics.on_event(ev.BeamsDelivered("inst-1", "pub-1", "web-1", None, "web", outcome, 201, 1))
    metrics.on_event(ev.BeamsPublishFinished("inst-1", "pub-1"))

    text = metrics.render().decode()
    assert 'tidings_beams_notifications_total{instance_id="inst-1",outcome="sent",platform="web"} 2.0' in text
    assert 'tidings_beams_notifications_total{instance_id="inst-1",outcome="removed",platform="web"} 1.0' in text
    assert 'tidings_beams_publishes_delivered_total{instance_id="inst-1"} 1.0' in text

"""FCM v1 answers -> Outcome (pure), using the emulator's answer bodies, which copy FCM's."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import pytest

from tests.support.emulators import fcm as emu
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Retry
from tidings.providers.fcm.errors import classify, parse_error
from tidings.providers.retry import retry_after

NOW = time.time()


def outcome_of(answer: emu.Answer) -> Outcome:
    return classify(answer.status, json.dumps(answer.body).encode(), answer.headers.get("Retry-After"), NOW)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (emu.Answer(200, {"name": "projects/p/messages/1"}), Delivered(200)),
        (emu.unregistered(), DeadToken("UNREGISTERED", 404)),
        (emu.sender_id_mismatch(), DeadToken("SENDER_ID_MISMATCH", 403)),
        (emu.quota_exceeded(retry_after=30), Retry("QUOTA_EXCEEDED: Quota exceeded for sending messages", 30.0, 429)),
        (emu.internal(), Retry("INTERNAL: Internal error encountered.", None, 500)),
        (emu.unavailable(retry_after=7), Retry("UNAVAILABLE: The service is currently unavailable.", 7.0, 503)),
        (emu.unauthenticated(), Retry("UNAUTHENTICATED: Request had invalid authentication credentials.", None, 401)),
    ],
)
def test_answers(answer: emu.Answer, expected: Outcome) -> None:
    assert outcome_of(answer) == expected


def test_invalid_registration_token_is_a_dead_token() -> None:
    outcome = outcome_of(emu.invalid_token())
    assert isinstance(outcome, DeadToken) and outcome.status == 400


def test_token_named_only_in_the_message_is_a_dead_token_too() -> None:
    answer = emu.Answer.error(400, "INVALID_ARGUMENT", "Invalid registration token", "INVALID_ARGUMENT")
    assert isinstance(outcome_of(answer), DeadToken)


def test_other_invalid_argument_fails_only_this_notification() -> None:
    outcome = outcome_of(emu.invalid_argument("Message is too big"))
    assert outcome == Failed("INVALID_ARGUMENT: Message is too big", 400)


def test_third_party_auth_error_is_not_our_token() -> None:
    assert isinstance(outcome_of(emu.third_party_auth_error()), Failed)


def test_permission_denied_without_sender_id_mismatch_keeps_the_device() -> None:
    outcome = outcome_of(emu.Answer.error(403, "PERMISSION_DENIED", "Permission denied"))
    assert outcome == Failed("PERMISSION_DENIED: Permission denied", 403)


def test_404_that_is_not_fcm_json_keeps_the_device() -> None:
    # A wrong fcm_url or a proxy page must not delete every device of the instance.
    outcome = classify(404, b"<html>Not Found</html>", None, NOW)
    assert isinstance(outcome, Failed) and "fcm_url" in outcome.reason


def test_unregistered_wins_whatever_the_status() -> None:
    answer = emu.Answer.error(400, "INVALID_ARGUMENT", "x", "UNREGISTERED")
    assert outcome_of(answer) == DeadToken("UNREGISTERED", 400)


@pytest.mark.parametrize("status", [413, 422, 301])
def test_other_statuses_fail(status: int) -> None:
    assert isinstance(classify(status, b"", None, NOW), Failed)


def test_502_without_body_is_retried() -> None:
    assert classify(502, b"bad gateway", None, NOW) == Retry("HTTP 502", None, 502)


def test_retry_after_as_http_date_and_garbage() -> None:
    assert retry_after(formatdate(NOW + 120, usegmt=True), NOW) == pytest.approx(120, abs=1)
    assert retry_after(formatdate(NOW - 120, usegmt=True), NOW) == 0.0
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None


def test_parse_error_ignores_non_error_json() -> None:
    assert parse_error(b"[1, 2]") is None
    assert parse_error(b'{"error": "string"}') is None
    assert parse_error(b"") is None

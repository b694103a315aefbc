"""The emulator is only as useful as it is strict: it refuses what a real push service refuses."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import http_ece
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.providers.webpush.conftest import GatewaySettings, make_device, make_instance, make_publish
from tests.support.emulators.webpush import EmulatedSubscription, WebPushEmulator, b64url
from tidings.beams import vapid
from tidings.providers.base import Delivered
from tidings.providers.webpush import WebPushProvider


def _vapid(push: WebPushEmulator, private_pem: str, **claims: Any) -> str:
    payload = {"aud": push.origin, "exp": int(time.time()) + 3600, "sub": "mailto:t@example.com", **claims}
    token = jwt.encode(payload, vapid.load_private_key(private_pem), algorithm="ES256")
    return f"vapid t={token}, k={vapid.public_key_b64(private_pem)}"


def _body(sub: EmulatedSubscription, plaintext: bytes = b'{"ok": true}') -> bytes:
    body: bytes = http_ece.encrypt(
        plaintext,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=sub.p256dh_bytes,
        auth_secret=sub.auth_secret,
        version="aes128gcm",
    )
    return body


async def _post(sub: EmulatedSubscription, headers: dict[str, str], body: bytes) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.post(sub.endpoint, headers=headers, content=body)).status_code


@pytest.fixture
def push_sync() -> Iterator[WebPushEmulator]:
    with WebPushEmulator() as emulator:
        yield emulator


@pytest.fixture
def key() -> str:
    return vapid.generate_keypair()[0]


def _good(push: WebPushEmulator, key: str) -> dict[str, str]:
    return {"TTL": "60", "Content-Encoding": "aes128gcm", "Authorization": _vapid(push, key)}


async def test_accepts_a_well_formed_push(push: WebPushEmulator, key: str) -> None:
    sub = push.new_subscription()
    assert await _post(sub, _good(push, key), _body(sub)) == 201
    assert push.received[0].message == {"ok": True}


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"Authorization": "WebPush abc"}, 401),
        ({"TTL": ""}, 400),
        ({"Content-Encoding": "aesgcm"}, 400),
        ({"Urgency": "asap"}, 400),
        ({"Topic": "has spaces"}, 400),
    ],
)
async def test_refuses_bad_headers(push: WebPushEmulator, key: str, change: dict[str, str], status: int) -> None:
    sub = push.new_subscription()
    assert await _post(sub, {**_good(push, key), **change}, _body(sub)) == status
    assert push.received[0].message is None


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "https://elsewhere.example"},
        {"exp": int(time.time()) - 10},
        {"exp": int(time.time()) + 25 * 3600},
        {"sub": "admin"},
    ],
)
async def test_refuses_bad_vapid_claims(push: WebPushEmulator, key: str, claims: dict[str, Any]) -> None:
    sub = push.new_subscription()
    headers = {**_good(push, key), "Authorization": _vapid(push, key, **claims)}
    assert await _post(sub, headers, _body(sub)) == 401


async def test_refuses_a_jwt_not_signed_by_k(push: WebPushEmulator, key: str) -> None:
    sub = push.new_subscription()
    other = vapid.generate_keypair()[0]
    token = _vapid(push, other).split(",")[0]
    headers = {**_good(push, key), "Authorization": f"{token}, k={vapid.public_key_b64(key)}"}
    assert await _post(sub, headers, _body(sub)) == 401


async def test_refuses_what_it_cannot_decrypt(push: WebPushEmulator, key: str) -> None:
    sub, someone_else = push.new_subscription(), push.new_subscription()
    assert await _post(sub, _good(push, key), _body(someone_else)) == 400
    assert await _post(sub, _good(push, key), _body(sub, b"x" * 4100)) == 413


def test_token_is_base64_of_the_subscription_json(push_sync: WebPushEmulator) -> None:
    sub = push_sync.new_subscription()
    decoded = json.loads(base64.b64decode(push_sync.token_for(sub)))
    assert decoded == {
        "endpoint": sub.endpoint,
        "expirationTime": None,
        "keys": {"p256dh": b64url(sub.p256dh_bytes), "auth": b64url(sub.auth_secret)},
    }


def test_sync_context_manager_with_a_provider_on_another_loop(push_sync: WebPushEmulator) -> None:
    instance = make_instance()
    sub = push_sync.new_subscription(application_server_key=instance.vapid_public_key)

    async def send() -> object:
        provider = WebPushProvider(GatewaySettings())
        try:
            return await provider.send(instance, make_device(instance, sub), make_publish(instance, web={}))
        finally:
            await provider.close()

    assert asyncio.run(send()) == Delivered(201)
    [got] = push_sync.wait_for(1, subscription=sub)
    assert got.message is not None and got.message["notification"] == {}

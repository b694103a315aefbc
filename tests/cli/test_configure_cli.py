"""`tidings instances configure`: provider credentials and Beams webhooks stored, validated, never printed."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.emulators.fcm import make_service_account
from tidings.cli import main
from tidings.storage import open_storage

IID = "11111111-2222-4333-8444-555555555555"
KEY_ID = "ABC123DEFG"
TEAM_ID = "DEF123GHIJ"
WEBHOOK_SECRET = "whsec-do-not-print-me"


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.outputs: list[str] = []

    def __call__(self, *args: str, ok: bool = True) -> str:
        result = CliRunner().invoke(main, ["instances", "--data-dir", str(self.data), *args])
        out = result.output + (result.stderr if result.stderr_bytes else "")
        self.outputs.append(out)
        assert (result.exit_code == 0) == ok, f"exit {result.exit_code}: {out}"
        return out

    def providers(self) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            storage = await open_storage(f"sqlite+aiosqlite:///{self.data / 'tidings.db'}")
            try:
                inst = await storage.instances.get(IID)
                assert inst is not None
                return dict(inst.providers)
            finally:
                await storage.close()

        return asyncio.run(read())

    def assert_never_printed(self, *secrets: str) -> None:
        for out in self.outputs:
            for secret in secrets:
                assert secret not in out, f"a secret was printed:\n{out}"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    c = Cli(tmp_path)
    c("create", "--id", IID)
    return c


def p8_key(path: Path) -> tuple[Path, str]:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(pem)
    return path, pem


def key_body(pem: str) -> str:
    """A line from inside the PEM: what must never show up in any output."""
    return pem.strip().splitlines()[1]


def test_apns_key_is_stored_and_never_printed(cli: Cli, tmp_path: Path) -> None:
    key_file, pem = p8_key(tmp_path / "AuthKey_ABC123DEFG.p8")
    out = cli("configure", IID, "--apns-key-file", str(key_file), "--apns-key-id", KEY_ID,
              "--apns-team-id", f"{TEAM_ID}\n", "--apns-topic", "com.example.app", "--apns-environment", "sandbox")
    assert f"key_id={KEY_ID}" in out and f"team_id={TEAM_ID}" in out and "environment=sandbox" in out
    assert "key=sha256:" in out
    apns = cli.providers()["apns"]
    assert apns == {"key_id": KEY_ID, "team_id": TEAM_ID, "private_key": pem, "topic": "com.example.app",
                    "environment": "sandbox"}

    # Later options merge into what is stored: no need to give the key again.
    out = cli("configure", IID, "--apns-environment", "production")
    assert "environment=production" in out
    assert cli.providers()["apns"]["private_key"] == pem

    shown = cli("show", IID) + cli("show", IID, "--json")
    assert "apns" in shown
    cli.assert_never_printed(key_body(pem), "PRIVATE KEY")


def test_apns_needs_key_ids_and_a_p256_key(cli: Cli, tmp_path: Path) -> None:
    key_file, pem = p8_key(tmp_path / "key.p8")
    out = cli("configure", IID, "--apns-key-file", str(key_file), ok=False)
    assert "key_id" in out and "team_id" in out
    out = cli("configure", IID, "--apns-key-id", "authkey.p8", "--apns-team-id", TEAM_ID, "--apns-key-file",
              str(key_file), ok=False)
    assert "key_id" in out
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    (tmp_path / "rsa.p8").write_text(rsa_pem)
    out = cli("configure", IID, "--apns-key-file", str(tmp_path / "rsa.p8"), "--apns-key-id", KEY_ID,
              "--apns-team-id", TEAM_ID, ok=False)
    assert "P-256" in out
    assert "apns" not in cli.providers()
    cli.assert_never_printed(key_body(pem), key_body(rsa_pem))


def test_fcm_service_account(cli: Cli, tmp_path: Path) -> None:
    account = make_service_account("demo-project")
    path = tmp_path / "service-account.json"
    info = account.info  # a fresh client_id on every read
    path.write_text(json.dumps(info))
    out = cli("configure", IID, "--fcm-service-account", str(path))
    assert "project_id=demo-project" in out and account.client_email in out
    assert cli.providers()["fcm"] == {"service_account": info}

    (tmp_path / "bad.json").write_text("{not json")
    assert "not JSON" in cli("configure", IID, "--fcm-service-account", str(tmp_path / "bad.json"), ok=False)
    (tmp_path / "partial.json").write_text(json.dumps({**info, "private_key": "nope"}))
    out = cli("configure", IID, "--fcm-service-account", str(tmp_path / "partial.json"), ok=False)
    assert "private_key" in out
    cli("show", IID)
    cli.assert_never_printed(key_body(account.private_key_pem), "PRIVATE KEY")


def test_vapid_subject(cli: Cli) -> None:
    assert "vapid_subject=mailto:ops@example.com" in cli("configure", IID, "--vapid-subject", "mailto:ops@example.com")
    assert cli.providers()["web"] == {"vapid_subject": "mailto:ops@example.com"}
    assert "mailto:" in cli("configure", IID, "--vapid-subject", "ops@example.com", ok=False)


def test_webhooks(cli: Cli) -> None:
    out = cli("configure", IID, "--webhook-url", "https://hooks.example.com/a", ok=False)
    assert "--webhook-secret" in out  # a new webhook needs one

    out = cli("configure", IID, "--webhook-url", "https://hooks.example.com/a", "--webhook-secret", WEBHOOK_SECRET)
    assert "https://hooks.example.com/a" in out and "secret=(set)" in out and "all events" in out
    (hook,) = cli.providers()["webhooks"]
    assert hook["url"] == "https://hooks.example.com/a" and hook["secret"] == WEBHOOK_SECRET
    hook_id = hook["id"]
    assert str(uuid.UUID(hook_id)) == hook_id

    # With one webhook, options without --webhook-url change it; id and secret are kept.
    out = cli("configure", IID, "--webhook-event", "v1.UserNotificationOpen", "--webhook-custom-data", '{"env": "x"}')
    assert "events=v1.UserNotificationOpen" in out
    (hook,) = cli.providers()["webhooks"]
    assert hook == {"id": hook_id, "url": "https://hooks.example.com/a", "secret": WEBHOOK_SECRET,
                    "events": ["v1.UserNotificationOpen"], "custom_data": {"env": "x"}}

    cli("configure", IID, "--webhook-url", "http://127.0.0.1:9/b", "--webhook-secret", "other-secret")
    assert [h["url"] for h in cli.providers()["webhooks"]] == ["https://hooks.example.com/a", "http://127.0.0.1:9/b"]
    assert "which webhook" in cli("configure", IID, "--webhook-secret", "x", ok=False)
    assert "url" in cli("configure", IID, "--webhook-url", "ftp://x", "--webhook-secret", "s", ok=False)
    assert "JSON object" in cli("configure", IID, "--webhook-custom-data", "[1]", ok=False)

    out = cli("configure", IID, "--clear", "webhooks")
    assert "webhooks  cleared" in out
    assert "webhooks" not in cli.providers()
    cli("show", IID, "--json")
    cli.assert_never_printed(WEBHOOK_SECRET, "other-secret")


def test_clear_then_set_and_errors(cli: Cli) -> None:
    cli("configure", IID, "--vapid-subject", "https://example.com/contact")
    cli("configure", IID, "--clear", "web", "--clear", "apns")
    assert cli.providers() == {}
    assert "nothing to configure" in cli("configure", IID, ok=False)
    assert "no instance" in cli("configure", str(uuid.uuid4()), "--vapid-subject", "mailto:a@b.c", ok=False)


def test_a_webhook_url_s_credentials_are_not_printed(cli: Cli) -> None:
    out = cli("configure", IID, "--webhook-url", "https://user:pw-in-url@hooks.example.com/b?token=tok-in-url",
              "--webhook-secret", WEBHOOK_SECRET)
    assert "https://***@hooks.example.com/b?token=***" in out
    cli("show", IID, "--json")
    cli("list", "--json")
    cli.assert_never_printed(WEBHOOK_SECRET, "pw-in-url", "tok-in-url")

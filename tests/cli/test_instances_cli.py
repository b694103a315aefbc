"""`tidings instances create|list|show` and `tidings token`, through the real command group."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from tidings.beams import tokens
from tidings.cli import main


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path / "data")] if args[0] == "token"
                                else [args[0], "--data-dir", str(tmp_path / "data"), *args[1:]])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_create_list_show_and_token(tmp_path: Path) -> None:
    iid = "11111111-2222-4333-8444-555555555555"
    secret = "AB" * 32
    code, out = run(tmp_path, "instances", "create", "--id", iid, "--secret", secret, "--name", "shop")
    assert code == 0 and iid in out and secret in out
    code, out = run(tmp_path, "instances", "list", "--json")
    assert json.loads(out) == [{"id": iid, "name": "shop"}]  # no secret key
    code, out = run(tmp_path, "instances", "list")
    assert iid in out and secret not in out
    code, out = run(tmp_path, "instances", "show", iid, "--json")
    shown = json.loads(out)
    assert shown["secret_key"] == secret and len(shown["vapid_public_key"]) == 87  # 65 bytes, base64url
    code, out = run(tmp_path, "token", "alice")
    assert code == 0
    token = json.loads(out)["token"]
    assert tokens.verify(token, instance_id=iid, secret_key=secret, now=time.time()) == "alice"


def test_errors(tmp_path: Path) -> None:
    assert run(tmp_path, "token", "alice")[0] != 0  # no instance yet
    assert run(tmp_path, "instances", "show", "nope")[0] != 0
    assert run(tmp_path, "instances", "create", "--id", "x1")[0] != 0  # not a UUID
    iid = "11111111-2222-4333-8444-555555555555"
    assert run(tmp_path, "instances", "create", "--id", iid)[0] == 0
    assert run(tmp_path, "instances", "create", "--id", iid)[0] != 0  # duplicate
    assert run(tmp_path, "token", "u" * 165)[0] != 0
    assert run(tmp_path, "token", "alice", "--instance", "other")[0] != 0

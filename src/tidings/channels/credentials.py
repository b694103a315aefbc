"""Fresh app credentials: numeric id, hex key and secret, from the `secrets` module. Pure, no I/O."""

from __future__ import annotations

import secrets

from tidings.channels.apps import App


def new_app_id() -> str:
    """Seven digits, never a leading zero (SDKs and dashboards treat app ids as numbers)."""
    return str(1_000_000 + secrets.randbelow(9_000_000))


def new_key() -> str:
    return secrets.token_hex(10)


def new_secret() -> str:
    return secrets.token_hex(10)


def new_app(name: str = "", **fields: object) -> App:
    """An App with generated id, key and secret; any field given in `fields` wins over them."""
    values: dict[str, object] = {"id": new_app_id(), "key": new_key(), "secret": new_secret(), "name": name}
    values.update(fields)
    return App.model_validate(values)

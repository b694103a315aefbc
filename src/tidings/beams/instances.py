"""Making a new Beams instance: ids, secret key and its own VAPID key pair."""

from __future__ import annotations

from tidings.beams import ids, vapid
from tidings.beams.models import Instance


def new_instance(instance_id: str | None = None, secret_key: str | None = None, name: str = "") -> Instance:
    private_pem, public_b64 = vapid.generate_keypair()
    return Instance(
        id=instance_id or ids.new_instance_id(),
        secret_key=secret_key or ids.new_secret_key(),
        name=name,
        vapid_private_key=private_pem,
        vapid_public_key=public_b64,
    )

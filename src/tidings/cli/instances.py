"""`tidings instances ...` (Beams instances) and `tidings token USER_ID` (a Beams Token for testing)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import click

from tidings.beams import tokens
from tidings.beams.instances import new_instance
from tidings.beams.models import Instance
from tidings.cli.common import Fail, Target, echo_pairs, pass_target, run_storage, target_options
from tidings.errors import RecordNotFound
from tidings.storage import Storage


@click.group("instances")
@target_options
@click.pass_context
def instances(ctx: click.Context, data_dir: Path | None, database_url: str | None, config_file: Path | None) -> None:
    """Manage Beams instances (instance id, secret key, VAPID keys)."""
    ctx.obj = Target(data_dir, database_url, config_file)


@instances.command("create")
@click.option("--name", default="", help="Display name")
@click.option("--id", "instance_id", help="Instance id (a UUID; generated when missing)")
@click.option("--secret", "secret_key", help="Secret key (generated when missing)")
@pass_target
def create(target: Target, name: str, instance_id: str | None, secret_key: str | None) -> None:
    """Create a Beams instance with its own VAPID key pair."""
    if instance_id is not None:
        try:
            uuid.UUID(instance_id)
        except ValueError:
            raise Fail(f"instance id must be a UUID, got {instance_id!r}") from None

    async def act(storage: Storage) -> Instance:
        return await storage.instances.create(new_instance(instance_id, secret_key, name=name))

    inst = run_storage(target, act)
    click.echo(f"created instance {inst.id}")
    echo_pairs([("instance_id", inst.id), ("secret_key", inst.secret_key), ("name", inst.name)])


@instances.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
@pass_target
def list_instances(target: Target, as_json: bool) -> None:
    """List Beams instances (secret keys are not shown)."""

    async def act(storage: Storage) -> list[Instance]:
        return await storage.instances.list()

    found = run_storage(target, act)
    if as_json:
        click.echo(json.dumps([{"id": i.id, "name": i.name} for i in found], indent=2))
        return
    for inst in found:
        click.echo(f"{inst.id}  {inst.name}")


async def get_instance(storage: Storage, instance_id: str | None) -> Instance:
    """The instance with that id, or the first one when None; RecordNotFound otherwise."""
    if instance_id is None:
        found = await storage.instances.list()
        if not found:
            raise RecordNotFound("no Beams instance yet: run `tidings instances create` or start `tidings serve`")
        return found[0]
    inst = await storage.instances.get(instance_id)
    if inst is None:
        raise RecordNotFound(f"no instance with id {instance_id}")
    return inst


@instances.command("show")
@click.argument("instance_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
@pass_target
def show(target: Target, instance_id: str, as_json: bool) -> None:
    """Show an instance, its secret key and VAPID public key included (provider credentials are not shown)."""
    inst = run_storage(target, lambda storage: get_instance(storage, instance_id))
    fields = {"instance_id": inst.id, "secret_key": inst.secret_key, "name": inst.name,
              "vapid_public_key": inst.vapid_public_key, "providers": ",".join(sorted(inst.providers)) or "none"}
    if as_json:
        click.echo(json.dumps(fields, indent=2))
        return
    echo_pairs(list(fields.items()))


@click.command("token")
@click.argument("user_id")
@click.option("--instance", "instance_id", help="Instance id (default: the first instance)")
@click.option("--lifetime", type=click.IntRange(min=1), default=86400, show_default=True, help="Seconds")
@target_options
def token(user_id: str, instance_id: str | None, lifetime: int, data_dir: Path | None, database_url: str | None,
          config_file: Path | None) -> None:
    """Print a Beams Token for USER_ID, as a customer's auth endpoint would return it: {"token": "..."}."""
    if not 1 <= len(user_id) <= 164:
        raise Fail("user id must be 1..164 characters")
    target = Target(data_dir, database_url, config_file)
    inst = run_storage(target, lambda storage: get_instance(storage, instance_id))
    jwt = tokens.issue(inst.id, inst.secret_key, user_id, now=time.time(), lifetime=lifetime)
    click.echo(json.dumps({"token": jwt}))

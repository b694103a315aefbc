"""SQLite with two writers (the server and the admin CLI are two processes on one file): a transaction that
reads, then writes, must wait for the other writer instead of failing with "database is locked".

Each Storage here has its own engine and connections, as another process would.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import OperationalError

from tidings.channels.credentials import new_app
from tidings.storage import Storage, open_storage
from tidings.storage.engine import for_writes
from tidings.storage.schema import apps as apps_table

STORAGE_SRC = Path(__file__).parents[2] / "src" / "tidings" / "storage"


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Storage, Storage]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}"
    first, second = await open_storage(url), await open_storage(url)
    await first.migrate()
    await second.migrate()
    yield first, second
    await first.close()
    await second.close()


async def read_then_write(storage: Storage, *, immediate: bool, go: asyncio.Event, other_wrote: asyncio.Event) -> None:
    """Read the app (taking a snapshot), give the other writer its chance, then write."""
    engine = for_writes(storage.engine) if immediate else storage.engine
    async with engine.begin() as conn:
        (await conn.execute(select(apps_table.c.name))).all()
        go.set()
        if immediate:
            await asyncio.sleep(0.2)  # the other writer waits for our lock meanwhile
        else:
            await other_wrote.wait()  # the other writer commits: our snapshot is stale
        await conn.execute(update(apps_table).values(name="from the first"))


async def other_writer(storage: Storage, go: asyncio.Event, wrote: asyncio.Event) -> None:
    await go.wait()
    async with for_writes(storage.engine).begin() as conn:
        await conn.execute(update(apps_table).values(enabled=False))
    wrote.set()


async def test_a_deferred_read_then_write_fails_when_another_writer_committed_between(
    two: tuple[Storage, Storage],
) -> None:
    """Why for_writes exists: SQLite cannot upgrade a read snapshot that another commit made stale, and
    says so at once (busy_timeout does not apply)."""
    first, second = two
    await first.apps.create(new_app(name="app"))
    go, wrote = asyncio.Event(), asyncio.Event()
    other = asyncio.create_task(other_writer(second, go, wrote))
    with pytest.raises(OperationalError, match="database is locked"):
        await read_then_write(first, immediate=False, go=go, other_wrote=wrote)
    await other


async def test_a_transaction_begun_for_writes_makes_the_other_writer_wait(two: tuple[Storage, Storage]) -> None:
    first, second = two
    await first.apps.create(new_app(name="app"))
    go, wrote = asyncio.Event(), asyncio.Event()
    other = asyncio.create_task(other_writer(second, go, wrote))
    await read_then_write(first, immediate=True, go=go, other_wrote=wrote)
    await other
    (app,) = await second.apps.list()
    assert (app.name, app.enabled) == ("from the first", False)  # both applied, in turn


async def test_reads_begin_deferred_and_writes_immediate(two: tuple[Storage, Storage]) -> None:
    first, _ = two
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(first.engine.sync_engine, "before_cursor_execute", record)
    async with first.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    async with for_writes(first.engine).begin() as conn:
        await conn.execute(text("SELECT 1"))
    assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN", "BEGIN IMMEDIATE"]


async def test_app_updates_from_two_processes_at_once_all_apply(two: tuple[Storage, Storage]) -> None:
    """AppStore.update reads, then writes: the CLI's `apps update` / `apps webhooks add` next to a server."""
    first, second = two
    app = await first.apps.create(new_app(name="app"))

    async def rename(storage: Storage, who: str) -> None:
        for i in range(25):
            await storage.apps.update(app.id, name=f"{who}-{i}")

    async def register(storage: Storage) -> None:
        for i in range(25):
            await storage.apps.create(new_app(name=f"other-{i}"))

    await asyncio.gather(rename(first, "a"), rename(second, "b"), register(first), register(second))
    assert len(await first.apps.list()) == 51


def test_every_transaction_that_writes_is_begun_for_writes() -> None:
    """In storage/, `begin()` is called on a `for_writes` engine only (stores keep it as `self._writer`)."""
    offenders = []
    for path in sorted(STORAGE_SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "begin" or node.args:
                continue
            on = node.func.value
            writer = (isinstance(on, ast.Attribute) and on.attr == "_writer") or (
                isinstance(on, ast.Call) and isinstance(on.func, ast.Name) and on.func.id == "for_writes"
            )
            if not writer:
                offenders.append(f"{path.relative_to(STORAGE_SRC)}:{node.lineno}")
    assert offenders == []

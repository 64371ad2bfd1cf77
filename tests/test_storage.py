"""The storage ports stay narrow, both engines implement them, and shortening decides
reuse-or-create in one transaction (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import inspect
import re
import sqlite3
from pathlib import Path
from typing import Any, Protocol

import pytest

import bot.storage as storage
from bot.config import Config
from bot.errors import UserError
from bot.links import Shortener
from bot.model import Click, ClickClass, Link
from bot.storage.postgres import PostgresStore
from bot.storage.sqlite import SqliteStore
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, FIXED_NOW, REPO

ENGINES = BOTH_ENGINES

MAX_METHODS = 10
FIXED_MS = int(FIXED_NOW.timestamp() * 1000)


def _ports() -> dict[str, type]:
    return {
        name: value
        for name, value in vars(storage).items()
        if inspect.isclass(value)
        and getattr(value, "_is_protocol", False)
        and value is not Protocol
    }


def _own_methods(port: type) -> set[str]:
    return {
        name
        for name, value in vars(port).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }


def _is_composite(port: type) -> bool:
    return any(base in _ports().values() for base in port.__bases__)


def test_every_store_port_has_at_most_ten_methods() -> None:
    ports = _ports()
    assert len(ports) >= 9
    for name, port in ports.items():
        assert len(_own_methods(port)) <= MAX_METHODS, name


def test_composite_ports_only_combine_ports() -> None:
    """A consumer needing two ports takes their composite: no method is declared twice."""
    for name, port in _ports().items():
        if _is_composite(port):
            assert _own_methods(port) <= {"close"}, name
    declared = [m for port in _ports().values() for m in _own_methods(port)]
    assert len(declared) == len(set(declared))


@pytest.mark.parametrize("engine_class", [SqliteStore, PostgresStore])
def test_each_engine_implements_every_port(engine_class: type) -> None:
    for name, port in _ports().items():
        for method in _own_methods(port):
            assert inspect.iscoroutinefunction(getattr(engine_class, method)), (name, method)


def test_consumers_take_narrow_ports_and_adapters_reach_storage_through_the_core() -> None:
    whole_store = re.compile(r"^from bot\.storage import .*\bStore\b", re.MULTILINE)
    for folder in ("bot", "redirector", "adapters"):
        for path in (REPO / folder).glob("*.py"):
            source = path.read_text(encoding="utf-8")
            assert not whole_store.search(source), path
            if folder == "adapters":
                assert "bot.storage" not in source, path


class BothReadFirst:
    """A store whose link lookups wait for each other: both shortenings see no link yet,
    as two messages arriving at once can."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._both_read = asyncio.Barrier(2)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def link_for_url(self, group_id: int, url: str) -> Link | None:
        link = await self._inner.link_for_url(group_id, url)
        await self._both_read.wait()
        return link


async def test_two_shortenings_of_one_url_at_once_get_one_code(suo: Suo, config: Config) -> None:
    group = await suo.store.upsert_group("console", "race", "race")
    alice = await suo.store.upsert_user("console", "alice", "Alice")
    bob = await suo.store.upsert_user("console", "bob", "Bob")
    shortener = Shortener(
        BothReadFirst(suo.store), config.links, config.server.public_url, suo.clock
    )
    url = "https://example.com/posted-twice"
    a, b = await asyncio.gather(
        shortener.shorten_in_group(group, alice, url),
        shortener.shorten_in_group(group, bob, url),
    )
    assert a.link.code == b.link.code
    assert a.short_url == b.short_url
    assert sorted([a.reused, b.reused]) == [False, True]
    stored = await suo.store.link_for_url(group.id, url)
    assert stored is not None and stored.code == a.link.code


async def test_a_shortening_that_loses_the_race_still_refuses_a_removed_link(
    suo: Suo, config: Config
) -> None:
    """The link another process stored first is reused like any existing one."""
    group = await suo.store.upsert_group("console", "removed", "removed")
    url = "https://example.com/removed"
    link, created = await suo.store.create_link("Removed1", url, group.id, None, FIXED_NOW)
    assert created and await suo.store.disable_link(link.code, group.id)

    class SeesNothing(BothReadFirst):
        async def link_for_url(self, group_id: int, url: str) -> Link | None:
            return None

    shortener = Shortener(SeesNothing(suo.store), config.links, "https://suo.test", suo.clock)
    with pytest.raises(UserError) as refused:
        await shortener.shorten_in_group(group, None, url)
    assert refused.value.code == "link_removed"


async def test_two_processes_creating_one_url_at_once_store_one_link(
    suo: Suo, config: Config
) -> None:
    group = await suo.store.upsert_group("console", "processes", "processes")
    other = await storage.open_store(config.storage.url)
    try:
        url = "https://example.com/two-processes"
        results = await asyncio.gather(
            *(
                store.create_link(code, url, group.id, None, FIXED_NOW)
                for store, code in ((suo.store, "FirstOne"), (other, "SecondOne"))
            )
        )
    finally:
        await other.close()
    (code,) = {link.code for link, _ in results}
    assert sorted(created for _, created in results) == [False, True]
    assert code in ("FirstOne", "SecondOne")


@pytest.mark.sqlite_only("the read connection's snapshots are SQLite's")
async def test_a_link_disabled_by_another_process_is_seen_by_the_next_lookup(
    suo: Suo, config: Config
) -> None:
    """No lookup keeps an old snapshot, not even within one turn of the event loop: the read
    right after another process's commit sees it (a snapshot shared per turn did not)."""
    group = await suo.store.upsert_group("console", "snapshot", "snapshot")
    await suo.store.create_link("SnapOne", "https://example.com/snap", group.id, None, FIXED_NOW)
    seen = await suo.store.get_link("SnapOne")
    with sqlite3.connect(config.storage.url.removeprefix("sqlite:///")) as other:
        other.execute("UPDATE links SET disabled = 1 WHERE code = 'SnapOne'")
    again = await suo.store.get_link("SnapOne")  # no await in between yields to the loop
    assert seen is not None and not seen.disabled
    assert again is not None and again.disabled


async def test_a_click_batch_starts_a_checkpointed_sqlite_wal_over_despite_our_lookups(
    tmp_path: Path,
) -> None:
    """A checkpointed WAL is started over by the next write unless a reader still holds a
    snapshot in it: the redirector's lookups must hold none into the click batch written
    after them in the same loop turn (when they did, the file grew with every batch under
    load: 214 MB against 68 MB in a minute)."""
    path = tmp_path / "suo.db"
    store = await storage.open_store(f"sqlite:///{path}")
    codes = [f"wal{n:04d}" for n in range(50)]
    grown = []
    try:
        group = await store.upsert_group("console", "wal", "wal")
        for code in codes:
            await store.create_link(code, f"https://example.com/{code}", group.id, None, FIXED_NOW)
        with sqlite3.connect(path) as checkpointer:
            for batch in range(5):
                clicks = [
                    Click(batch * 100 + n, code, FIXED_MS, ClickClass.HUMAN, "ios", "", "v")
                    for n, code in enumerate(codes)
                ]
                # One loop turn, as in the redirector: a lookup, a checkpoint done meanwhile
                # (by another connection, as our own runs in aiosqlite's thread), a batch.
                assert await store.get_link(codes[batch]) is not None
                assert checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0] == 0
                before = (path.parent / "suo.db-wal").stat().st_size
                await store.add_clicks(clicks)
                grown.append((path.parent / "suo.db-wal").stat().st_size - before)
                await asyncio.sleep(0)
    finally:
        await store.close()
    assert grown == [0] * 5, f"the WAL grew by {grown} bytes"

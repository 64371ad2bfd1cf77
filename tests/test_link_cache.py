"""The redirector's link cache across processes: two redirectors with their own store
connections on one database (as two processes have), a change made through one honoured by
the other within a second; opens limits spent from reserved blocks, never over the limit."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.model import GroupSettings, LinkRules
from bot.storage import Store, open_store
from redirector.app import create_app
from redirector.clicks import ClickRecorder
from redirector.link_cache import LinkCache, OpenBlocks
from tests.browser import WECHAT_IOS
from tests.conftest import BOTH_ENGINES, FIXED_NOW, FakeClock, serving

ENGINES = BOTH_ENGINES

POLL = 0.05  # the change poll, injected: a test waits for it, at most WITHIN seconds
WITHIN = 1.0


@pytest.fixture
async def stores(storage_url: str) -> AsyncIterator[list[Store]]:
    """Three stores on one database, each with its own connections, as processes have."""
    opened = [await open_store(storage_url) for _ in range(3)]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


@contextlib.asynccontextmanager
async def redirector(store: Store, tmp_path: Path, name: str) -> AsyncIterator[str]:
    recorder = ClickRecorder(store, clock=FakeClock(), journal=tmp_path / f"{name}.jsonl")
    app = create_app(store, recorder, public_url="https://suo.test", change_poll_seconds=POLL)
    async with serving(app) as base:
        yield base


async def status_of(http: aiohttp.ClientSession, url: str, ua: str = WECHAT_IOS) -> int:
    async with http.get(url, headers={"User-Agent": ua}, allow_redirects=False) as resp:
        return resp.status


async def within_a_second(check: Callable[[], Awaitable[bool]]) -> bool:
    """True once `check` holds, trying until WITHIN seconds have passed."""
    deadline = time.monotonic() + WITHIN
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(POLL / 2)
    return await check()


async def delete(store: Store, group_id: int, code: str) -> None:
    assert await store.disable_link(code, group_id)


async def allow_ios_only(store: Store, group_id: int, code: str) -> None:
    await store.set_group_settings(group_id, GroupSettings(platforms=frozenset({"ios"})))


async def create(store: Store, group_id: int, code: str) -> None:
    await store.create_link(code, "https://example.com/late", group_id, None, FIXED_NOW)


@pytest.mark.parametrize(
    ("change", "before", "after"),
    [(delete, 302, 410), (allow_ios_only, 302, 403), (create, 404, 302)],
)
async def test_a_change_through_one_process_reaches_the_other_within_a_second(
    stores: list[Store],
    tmp_path: Path,
    change: Callable[[Store, int, str], Awaitable[None]],
    before: int,
    after: int,
) -> None:
    """A delete (410), a group's rule change (WeChat now gets the platform page) and a code
    created elsewhere (its 404 was remembered) reach a process that answered from memory."""
    one, other = stores[0], stores[1]
    group = await one.upsert_group("telegram", "-1001", "g1")
    if change is not create:
        await one.create_link("Code001", "https://example.com/c", group.id, None, FIXED_NOW)
    async with (
        redirector(other, tmp_path, "other") as base,
        aiohttp.ClientSession() as http,
    ):
        for _ in range(3):  # the second and third are answered from the other's memory
            assert await status_of(http, f"{base}/Code001") == before
        await change(one, group.id, "Code001")

        async def changed() -> bool:
            return await status_of(http, f"{base}/Code001") == after

        assert await within_a_second(changed)


async def test_opens_reserved_in_blocks_by_three_processes_never_exceed_max_clicks(
    stores: list[Store],
) -> None:
    """Worst overshoot: none. Every open is counted in the store before it is spent."""
    group = await stores[0].upsert_group("telegram", "-1001", "g1")
    rules = LinkRules(max_clicks=100)
    await stores[0].create_link("Lim0001", "https://e.com/l", group.id, None, FIXED_NOW, rules)
    processes = [OpenBlocks(store) for store in stores]

    async def reader(blocks: OpenBlocks) -> int:
        return sum([await blocks.take("Lim0001", 100, 0.0) for _ in range(60)])

    opened = await asyncio.gather(*(reader(p) for p in processes))
    assert sum(opened) == 100  # 180 tries, exactly the limit served
    for blocks in processes:
        await blocks.give_back_all()
    link = await stores[0].get_link("Lim0001")
    assert link is not None and link.human_opens == 100


async def test_unspent_opens_go_back_at_shutdown_and_a_killed_process_only_under_uses(
    stores: list[Store],
) -> None:
    group = await stores[0].upsert_group("telegram", "-1001", "g1")
    rules = LinkRules(max_clicks=160)
    await stores[0].create_link("Lim0002", "https://e.com/m", group.id, None, FIXED_NOW, rules)
    clean, killed = OpenBlocks(stores[0]), OpenBlocks(stores[1])
    assert await clean.take("Lim0002", 160, 0.0)  # reserves a block of 10, spends 1
    assert await killed.take("Lim0002", 160, 0.0)
    await clean.give_back_all()  # `killed` never gives its 9 back, like kill -9
    link = await stores[2].get_link("Lim0002")
    assert link is not None and link.human_opens == 1 + 10
    survivor = OpenBlocks(stores[2])
    served = 0
    while await survivor.take("Lim0002", 160, 0.0):
        served += 1
    assert served == 160 - 11  # the killed process's 9 unspent opens are lost, none overshoot


def test_the_link_cache_drops_the_least_recently_used_and_forgets_unknown_codes() -> None:
    cache: LinkCache[str] = LinkCache(max_links=2, max_missing=2, missing_seconds=2.0)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recently used
    cache.put("c", "C")
    assert (cache.get("b"), cache.get("a"), cache.get("c")) == (None, "A", "C")
    cache.mark_missing("x", now=10.0)
    assert cache.is_missing("x", now=11.9) and not cache.is_missing("x", now=12.0)
    cache.mark_missing("y", now=10.0)
    cache.forget("y")  # created here: no longer unknown
    assert not cache.is_missing("y", now=10.5)
    cache.put("x", "X")
    assert not cache.is_missing("x", now=10.5) and len(cache) == 2

"""The PostgreSQL engine where it differs from SQLite: how it is chosen and configured, how it
fails, migrations shared by processes, and claims that many connections race for at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, parse_config
from bot.model import Click, ClickClass, LinkRules
from bot.storage import Store, StoreUnavailable, open_store
from bot.storage.postgres import MIGRATIONS, PostgresStore
from tests.conftest import BOTH_ENGINES, FIXED_NOW, free_port, query

ENGINES = BOTH_ENGINES


def test_a_postgresql_url_and_its_pool_sizes_are_read_from_the_config() -> None:
    config = parse_config(
        {"storage": {"url": "postgresql://suo@db.internal/suo", "pool_min": 2, "pool_max": 20}},
        env={},
    )
    assert (config.storage.url, config.storage.pool_min, config.storage.pool_max) == (
        "postgresql://suo@db.internal/suo",
        2,
        20,
    )
    from_env = parse_config({}, env={"SUO_STORAGE_URL": "postgres://suo@db.internal/suo"})
    assert from_env.storage.url == "postgres://suo@db.internal/suo"
    assert (from_env.storage.pool_min, from_env.storage.pool_max) == (1, 10)
    with pytest.raises(ConfigError, match=r"^storage\.pool_min"):
        parse_config({"storage": {"pool_min": 5, "pool_max": 2}}, env={})


async def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    url = f"postgresql://suo:S3cretPass@127.0.0.1:{free_port()}/suo"
    with pytest.raises(StoreUnavailable) as error:
        await open_store(url)
    message = str(error.value)
    assert message.startswith(
        "cannot open the PostgreSQL database postgresql://suo:***@127.0.0.1:"
    )
    assert "S3cretPass" not in message and "\n" not in message


async def test_a_missing_database_is_one_line_too(postgres_url: str) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/suo_no_such_database"
    with pytest.raises(StoreUnavailable, match="suo_no_such_database"):
        await open_store(missing)


async def test_processes_starting_together_migrate_once(postgres_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(postgres_url) for _ in range(3)))
    for store in stores:
        await store.close()
    rows = await query(postgres_url, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    again = await PostgresStore.open(postgres_url)  # an up-to-date database: nothing to do
    await again.close()


@pytest.fixture
async def store(storage_url: str) -> AsyncIterator[Store]:
    opened = await open_store(storage_url)
    yield opened
    await opened.close()


async def test_times_come_back_aware_and_equal(store: Store) -> None:
    group = await store.upsert_group("console", "times", "Times")
    shanghai = FIXED_NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    expires = shanghai + timedelta(days=3)
    await store.create_link("Times01", "https://example.com/t", group.id, None, shanghai)
    await store.set_link_rules("Times01", LinkRules(expires_at=expires))
    link = await store.get_link("Times01")
    assert link is not None
    assert link.created_at == shanghai and link.created_at.utcoffset() is not None
    assert link.rules.expires_at == expires


def _clicks(code: str, ids: range) -> list[Click]:
    ts = int(FIXED_NOW.timestamp() * 1000)
    return [Click(i, code, ts, ClickClass.HUMAN, "ios", "", f"v{i % 3}") for i in ids]


async def test_a_replayed_batch_and_an_id_twice_in_one_batch_count_once(store: Store) -> None:
    group = await store.upsert_group("console", "replay", "Replay")
    await store.create_link("Replay1", "https://example.com/r", group.id, None, FIXED_NOW)
    batch = _clicks("Replay1", range(1, 11))
    assert await store.add_clicks(batch) == 10
    assert await store.add_clicks([*batch[5:], *_clicks("Replay1", range(11, 13))] * 2) == 2
    stats = await store.group_stats(group.id)
    assert stats.human_clicks == 12


async def test_racing_claims_on_postgresql_never_overshoot(postgres_url: str) -> None:
    """Twenty connections at once: opens limits, 活码 caps, digests and reminders."""
    store = await PostgresStore.open(postgres_url, pool_min=4, pool_max=20)
    try:
        group = await store.upsert_group("console", "race", "Race")
        rules = LinkRules(max_clicks=5)
        await store.create_link(
            "Limit01", "https://example.com/l", group.id, None, FIXED_NOW, rules
        )
        opens = await asyncio.gather(*(store.claim_human_open("Limit01") for _ in range(20)))
        assert opens.count(True) == 5

        await store.create_live_code("Live001", group.id, "pool", None, FIXED_NOW)
        for url, cap in (("https://example.com/a", 3), ("https://example.com/b", None)):
            await store.add_live_target("Live001", url, cap, None, None, FIXED_NOW, current=False)
        scans = await asyncio.gather(
            *(store.claim_live_target("Live001", FIXED_NOW) for _ in range(20))
        )
        urls = [t.url for t in scans if t is not None]
        assert (urls.count("https://example.com/a"), len(urls)) == (3, 20)

        lease = timedelta(minutes=30)
        digests = await asyncio.gather(
            *(
                store.claim_digest(group.id, FIXED_NOW, f"p{n}", FIXED_NOW, lease)
                for n in range(10)
            )
        )
        reminders = await asyncio.gather(
            *(
                store.claim_live_reminder("Live001", "dry", 0, f"p{n}", FIXED_NOW, lease)
                for n in range(10)
            )
        )
        assert digests.count(True) == 1 and reminders.count(True) == 1
    finally:
        await store.close()

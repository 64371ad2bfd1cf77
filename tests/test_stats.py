"""Group statistics from the rollups: a seeded week with known counts, replays that add nothing,
and the chat commands `stats`, `top` and `mine` as members read them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Config
from bot.model import Click, ClickClass, Group, Period
from bot.storage.sqlite import MIGRATIONS, SqliteStore
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, FIXED_NOW, REPO, group_message

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

H, P, B = ClickClass.HUMAN, ClickClass.PREVIEW, ClickClass.BOT
WEEK = Period.last_days(7, FIXED_NOW)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Seed:
    """Links in two groups and clicks whose every count is known."""

    def __init__(self, suo: Suo) -> None:
        self.suo = suo
        self.n = 0

    async def link(self, group: Group, sharer: str, url: str) -> str:
        sharer_id = await self.suo.store.upsert_user("console", sharer, sharer.title())
        short = await self.suo.shortener.shorten_in_group(group, sharer_id, url)
        return short.link.code

    def click(
        self, code: str, at: datetime, klass: ClickClass, platform: str, visitor: str
    ) -> Click:
        self.n += 1
        return Click(self.n, code, ms(at), klass, platform, "", visitor)


@pytest.fixture
async def seeded(suo: Suo) -> tuple[Group, dict[str, str], list[Click]]:
    seed = Seed(suo)
    group = await suo.store.upsert_group("console", "g1", "读书会 Reading club")
    other = await suo.store.upsert_group("console", "g2", "Other")
    codes = {
        "a": await seed.link(group, "alice", "https://example.com/a"),
        "b": await seed.link(group, "alice", "https://example.com/b"),
        "c": await seed.link(group, "bob", "https://example.com/c"),
        "x": await seed.link(other, "alice", "https://example.com/x"),
    }
    day1 = FIXED_NOW - timedelta(days=3)
    day2 = FIXED_NOW - timedelta(days=1)
    clicks = [
        # link a: 4 human opens by 3 readers on day 1 (v1 twice), 1 more by v1 on day 2
        seed.click(codes["a"], day1, H, "wechat", "v1"),
        seed.click(codes["a"], day1 + timedelta(minutes=5), H, "wechat", "v1"),
        seed.click(codes["a"], day1, H, "ios", "v2"),
        seed.click(codes["a"], day1, H, "android", "v3"),
        seed.click(codes["a"], day2, H, "wechat", "v1"),
        seed.click(codes["a"], day1, P, "preview", "p1"),
        seed.click(codes["a"], day1, P, "preview", "p2"),
        # link b: 1 human, 1 bot
        seed.click(codes["b"], day2, H, "desktop", "v4"),
        seed.click(codes["b"], day2, B, "bot", "b1"),
        # link c (bob): 2 humans on day 2
        seed.click(codes["c"], day2, H, "qq", "v5"),
        seed.click(codes["c"], day2, H, "wechat", "v1"),
        # outside the week and in another group: never counted below
        seed.click(codes["a"], FIXED_NOW - timedelta(days=9), H, "wechat", "v9"),
        seed.click(codes["x"], day1, H, "wechat", "v1"),
    ]
    assert await suo.store.add_clicks(clicks) == len(clicks)
    return group, codes, clicks


async def test_week_numbers_come_from_the_rollups(
    suo: Suo, seeded: tuple[Group, dict[str, str], list[Click]]
) -> None:
    group, codes, _ = seeded
    stats = await suo.store.period_stats(group.id, WEEK, top=5)
    assert (stats.links_shared, stats.human, stats.previews, stats.bots) == (3, 8, 2, 1)
    # Readers are counted per day: v1 on day 1 and again on day 2 is two reader-days.
    # Day 1: v1 v2 v3; day 2: v1 v4 v5 -> 6.
    assert stats.unique_readers == 6
    assert [(link.code, link.human, link.previews) for link in stats.top_links] == [
        (codes["a"], 5, 2),
        (codes["c"], 2, 0),
        (codes["b"], 1, 0),
    ]
    assert stats.top_links[0].sharer == "Alice"
    assert [(s.name, s.links, s.human) for s in stats.top_sharers] == [
        ("Alice", 2, 6),
        ("Bob", 1, 2),
    ]
    assert stats.platforms[0] == ("wechat", 4)
    assert dict(stats.platforms) == {"wechat": 4, "ios": 1, "android": 1, "desktop": 1, "qq": 1}
    # Days count from the period's start (Nov 16 10:00 UTC): day 1 is index 3, day 2 index 5.
    assert stats.per_day == (0, 0, 0, 4, 0, 4, 0)


@pytest.mark.parametrize("remembered", [None, 1], ids=["remembered", "forgotten"])
async def test_readers_count_for_their_link_s_group_whether_or_not_it_was_just_opened(
    suo: Suo, remembered: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redirect looks a link up just before its click is written, and the SQLite store then
    knows the link's group without reading it again: the readers land in the same groups,
    also when more links were opened than it remembers (the oldest is forgotten)."""
    if remembered is not None:
        monkeypatch.setattr("bot.storage.sqlite._LINK_GROUPS_MAX", remembered)
    seed = Seed(suo)
    group = await suo.store.upsert_group("console", "g1", "Reading club")
    other = await suo.store.upsert_group("console", "g2", "Other")
    opened = await seed.link(group, "alice", "https://example.com/opened")
    unopened = await seed.link(group, "alice", "https://example.com/unopened")
    elsewhere = await seed.link(other, "bob", "https://example.com/elsewhere")
    for code in (opened, elsewhere):
        assert await suo.store.get_link(code) is not None
    day = FIXED_NOW - timedelta(days=1)
    clicks = [
        seed.click(opened, day, H, "wechat", "v1"),
        seed.click(opened, day, H, "ios", "v2"),
        seed.click(unopened, day, H, "wechat", "v1"),
        seed.click(unopened, day, H, "android", "v3"),
        seed.click(elsewhere, day, H, "wechat", "v4"),
        seed.click(opened, day, P, "preview", "p1"),
    ]
    assert await suo.store.add_clicks(clicks) == len(clicks)
    ours = await suo.store.period_stats(group.id, WEEK, top=5)
    theirs = await suo.store.period_stats(other.id, WEEK, top=5)
    assert (ours.human, ours.unique_readers) == (4, 3)  # v1 (on both links), v2, v3
    assert (theirs.human, theirs.unique_readers) == (1, 1)  # v4


async def test_a_replayed_batch_adds_nothing(
    suo: Suo, seeded: tuple[Group, dict[str, str], list[Click]]
) -> None:
    group, _, clicks = seeded
    before = await suo.store.period_stats(group.id, WEEK, top=5)
    assert await suo.store.add_clicks(clicks[:5]) == 0
    half_new = [*clicks[5:8], Click(10_001, clicks[0].code, clicks[0].ts_ms, H, "ios", "", "v7")]
    assert await suo.store.add_clicks(half_new) == 1
    after = await suo.store.period_stats(group.id, WEEK, top=5)
    assert (after.human, after.previews, after.unique_readers) == (
        before.human + 1,
        before.previews,
        before.unique_readers + 1,
    )


async def test_a_click_twice_in_one_batch_counts_once(
    suo: Suo, seeded: tuple[Group, dict[str, str], list[Click]]
) -> None:
    group, codes, _ = seeded
    before = await suo.store.period_stats(group.id, WEEK, top=5)
    twice = Click(20_001, codes["b"], ms(FIXED_NOW - timedelta(hours=2)), H, "ios", "", "v8")
    other = Click(20_002, codes["b"], ms(FIXED_NOW - timedelta(hours=2)), H, "ios", "", "v9")
    assert await suo.store.add_clicks([twice, twice, other]) == 2
    after = await suo.store.period_stats(group.id, WEEK, top=5)
    assert after.human == before.human + 2


async def test_stats_top_and_mine_in_chat(
    suo: Suo, seeded: tuple[Group, dict[str, str], list[Click]]
) -> None:
    _, codes, _ = seeded

    async def ask(text: str, user: str = "alice") -> str:
        (reply,) = await suo.core.handle(group_message(text, chat="g1", user=user))
        return reply.text

    text = await ask("/stats")
    assert "分享 3 个链接" in text and "真人打开 8 次" in text and "独立读者 6" in text
    assert "预览 2 次" in text and "机器人 1 次" in text
    assert text.index(codes["a"]) < text.index(codes["c"]) < text.index(codes["b"])
    assert "Alice" in text and "微信 50%" in text
    assert "真人打开 9 次" in await ask("/stats 30d")  # the 9-day-old click joins
    assert "用法" in await ask("/stats 3y")
    top = await ask("/top")
    assert top.index(codes["a"]) < top.index(codes["c"])
    mine = await ask("/mine", user="bob")
    assert codes["c"] in mine and codes["a"] not in mine and "2 次" in mine
    assert "还没有" in await ask("/mine", user="carol")


async def test_clicks_through_the_redirector_reach_stats(suo: Suo) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    (reply,) = await suo.core.handle(group_message("https://example.com/live"))
    code = reply.text.split("https://suo.test/")[1][:7]
    async with TestClient(TestServer(suo.redirector_app(), host="127.0.0.1", port=0)) as c:
        for ua in ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1",) * 3:
            await c.get(f"/{code}", headers={"User-Agent": ua}, allow_redirects=False)
        await c.get(
            f"/{code}",
            headers={"User-Agent": "TelegramBot (like TwitterBot)"},
            allow_redirects=False,
        )
    (stats,) = await suo.core.handle(group_message("/stats"))
    assert "真人打开 3 次（独立读者 1）" in stats.text and "预览 1 次" in stats.text


@pytest.mark.sqlite_only(reason="writes an old SQLite schema by hand")
async def test_upgrading_a_database_backfills_the_rollups(config: Config) -> None:
    """Clicks stored before the rollups existed are counted once the schema moves on."""
    path = config.storage.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[:3], start=1):
            db.executescript(f"{script}; PRAGMA user_version = {number};")
        db.execute(
            "INSERT INTO groups (id, platform, chat_id, title, created_at) "
            "VALUES (1, 'console', 'old', 'Old', ?)",
            (FIXED_NOW.isoformat(),),
        )
        db.execute(
            "INSERT INTO links (code, url, group_id, created_at) VALUES ('Old1234', ?, 1, ?)",
            ("https://example.com/old", FIXED_NOW.isoformat()),
        )
        at = ms(FIXED_NOW - timedelta(days=1))
        db.executemany(
            "INSERT INTO clicks VALUES (?, 'Old1234', ?, ?, ?, '', ?)",
            [
                ("o1", at, "human", "ios", "r1"),
                ("o2", at, "human", "ios", "r2"),
                ("o3", at, "preview", "preview", "p"),
            ],
        )
    store = await SqliteStore.open(path)
    try:
        stats = await store.period_stats(1, WEEK, top=5)
        assert (stats.human, stats.previews, stats.unique_readers) == (2, 1, 2)
    finally:
        await store.close()


def test_periods_are_whole_hours_in_utc() -> None:
    week = Period.last_days(7, datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    assert week.end == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert week.days == 7 and week.before().end == week.start


def test_processes_starting_together_on_an_old_file_migrate_it_once(tmp_path: Path) -> None:
    """`suo bot` and `suo redirector` started at once after an upgrade: both come up."""
    opener = (
        "import asyncio, sys\n"
        "from bot.storage.sqlite import SqliteStore\n"
        "async def main():\n"
        "    store = await SqliteStore.open(sys.argv[1])\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    for attempt in range(3):
        path = tmp_path / f"old{attempt}.db"
        with sqlite3.connect(path) as db:
            for number, script in enumerate(MIGRATIONS[:2], start=1):
                db.executescript(f"{script}; PRAGMA user_version = {number};")
        starts = [
            subprocess.Popen(
                [sys.executable, "-c", opener, str(path)],
                cwd=REPO,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        ended = [(proc.communicate(timeout=60)[1], proc.returncode) for proc in starts]
        for err, code in ended:
            assert code == 0, err
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)

"""The redirector over real HTTP on 127.0.0.1: 302s, friendly errors, and every click kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Config
from bot.model import Group
from bot.storage import JournalMark, StoreUnavailable
from redirector.app import create_app
from redirector.clicks import ClickRecorder, ClickStats
from redirector.journal import journal_family
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, FIXED_NOW, query, serving

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
WECHAT_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI "
    "Language/zh_CN"
)
TELEGRAM_PREVIEW = "TelegramBot (like TwitterBot)"


@pytest.fixture
async def client(suo: Suo) -> AsyncIterator[TestClient[object, object]]:
    server = TestServer(suo.redirector_app(), host="127.0.0.1", port=0)
    async with TestClient(server) as c:
        yield c


async def make_link(suo: Suo, url: str, chat: str = "g1") -> tuple[Group, str]:
    group = await suo.store.upsert_group("console", chat, chat)
    short = await suo.shortener.shorten_in_group(group, None, url)
    return group, short.link.code


async def clicks_rows(config: Config) -> list[tuple[Any, ...]]:
    sql = "SELECT code, class, platform, referrer_host, visitor FROM clicks ORDER BY ts"
    return await query(config.storage.url, sql)


async def test_short_link_redirects_with_no_caching(suo: Suo, client: TestClient) -> None:
    _, code = await make_link(suo, "https://例子.测试/路径?q=1")
    resp = await client.get(f"/{code}", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "https://xn--fsqu00a.xn--0zwm56d/%E8%B7%AF%E5%BE%84?q=1"
    assert resp.headers["Cache-Control"] == "private, max-age=0"


async def test_unknown_code_gets_a_friendly_404_page(client: TestClient) -> None:
    resp = await client.get("/nope123", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert resp.status == 404
    assert "链接不存在" in await resp.text()
    resp = await client.get("/nope123", headers={"Accept-Language": "en-US,en;q=0.8"})
    assert "Link not found" in await resp.text()


async def test_head_is_answered_but_never_counted(
    suo: Suo,
    client: TestClient,
    config: Config,
) -> None:
    group, code = await make_link(suo, "https://example.com/head")
    resp = await client.head(f"/{code}", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "https://example.com/head"
    await suo.recorder.flush()
    assert await clicks_rows(config) == []
    assert (await suo.store.group_stats(group.id)).human_clicks == 0


async def test_clicks_are_classified_and_no_ip_is_stored(
    suo: Suo,
    client: TestClient,
    config: Config,
) -> None:
    group, code = await make_link(suo, "https://example.com/c")
    for ua, ref in [
        (CHROME_ANDROID, "https://t.me/somegroup"),
        (WECHAT_IOS, ""),
        (TELEGRAM_PREVIEW, ""),
        ("python-requests/2.32", ""),
    ]:
        resp = await client.get(
            f"/{code}", headers={"User-Agent": ua, "Referer": ref}, allow_redirects=False
        )
        assert resp.status == 302
    await suo.recorder.flush()
    rows = await clicks_rows(config)
    assert sorted((r[1], r[2], r[3]) for r in rows) == [
        ("bot", "bot", ""),
        ("human", "android", "t.me"),
        ("human", "wechat", ""),
        ("preview", "preview", ""),
    ]
    assert all("127.0.0.1" not in "".join(r) for r in rows)
    stamps = [row[0] for row in await query(config.storage.url, "SELECT DISTINCT ts FROM clicks")]
    assert stamps == [round(FIXED_NOW.timestamp() * 1000)]  # the injected clock, in epoch ms
    stats = await suo.store.group_stats(group.id)
    assert (stats.human_clicks, stats.preview_clicks, stats.bot_clicks) == (2, 1, 1)


async def test_all_batched_clicks_are_persisted_after_shutdown(suo: Suo, config: Config) -> None:
    group, code = await make_link(suo, "https://example.com/batch")
    n = 1234
    server = TestServer(suo.redirector_app(), host="127.0.0.1", port=0)
    async with TestClient(server) as c:
        for _ in range(n):
            resp = await c.get(
                f"/{code}", headers={"User-Agent": CHROME_ANDROID}, allow_redirects=False
            )
            assert resp.status == 302
    # The client context closed the app: cleanup flushed whatever the timer had not.
    assert suo.recorder.stats().queued == 0
    assert len(await clicks_rows(config)) == n
    assert (await suo.store.group_stats(group.id)).human_clicks == n


class FailingStore:
    """Wraps a real store; add_clicks fails while `down` is set, like a lost database."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def add_clicks(self, clicks: list[object], mark: JournalMark | None = None) -> int:
        if self.down:
            raise StoreUnavailable("database is gone")
        return int(await self.inner.add_clicks(clicks, mark))


async def test_clicks_wait_in_the_journal_through_a_database_outage_and_count_once(
    suo: Suo, config: Config, tmp_path: Path
) -> None:
    group, code = await make_link(suo, "https://example.com/outage")
    flaky = FailingStore(suo.store)
    journal = tmp_path / "outage.jsonl"
    recorder = ClickRecorder(flaky, clock=suo.clock, journal=journal)
    app = create_app(flaky, recorder, public_url="https://suo.test")
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        for _ in range(40):
            resp = await c.get(
                f"/{code}", headers={"User-Agent": CHROME_ANDROID}, allow_redirects=False
            )
            assert resp.status == 302  # redirects keep working while the store is down
        await recorder.flush()
        # On disk, not in memory: a kill -9 now loses none of them.
        assert recorder.stats()[:3] == (40, 0, 40)
        [own] = journal_family(journal)
        written = own.read_bytes()
        assert len(written.splitlines()) == 40 and b"127.0.0.1" not in written  # no IP kept
        flaky.down = False
        for _ in range(2):
            await c.get(f"/{code}", headers={"User-Agent": CHROME_ANDROID}, allow_redirects=False)
        await recorder.flush()  # the store is back: the whole journal goes in
        assert recorder.stats() == ClickStats(42, 0, 0, 42, 0, 0)
    assert journal_family(journal) == []  # stopped with all of it stored: removed
    assert (await suo.store.group_stats(group.id)).human_clicks == 42
    # The same lines again, as a process that died after storing them would leave them
    # (its mark lost with it): nothing counted twice.
    (tmp_path / "outage.999-0a.jsonl").write_bytes(written)
    again = ClickRecorder(suo.store, clock=suo.clock, journal=journal)
    assert await again.sweep_dead() == 0
    assert journal_family(journal) == []
    assert (await suo.store.group_stats(group.id)).human_clicks == 42


async def test_qr_png_route_serves_the_short_link_qr(suo: Suo, client: TestClient) -> None:
    import io

    import zxingcpp
    from PIL import Image

    _, code = await make_link(suo, "https://example.com/png")
    resp = await client.get(f"/{code}.png")
    assert resp.status == 200 and resp.content_type == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(await resp.read())))
    assert [r.text for r in decoded] == [f"https://suo.test/{code}"]


async def test_healthz(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"


async def test_fast_path_serves_cached_links_and_counts_like_the_app(
    suo: Suo, config: Config
) -> None:
    """The production server answers known links before routing; behaviour must not change."""
    group, code = await make_link(suo, "https://example.com/fast")
    # Leaving `serving` cleans the app up, which flushes the recorder.
    async with serving(suo.redirector_app()) as base, aiohttp.ClientSession() as http:
        for _ in range(5):  # the first goes through the app and fills the cache
            async with http.get(
                f"{base}/{code}", headers={"User-Agent": CHROME_ANDROID}, allow_redirects=False
            ) as resp:
                assert resp.status == 302
                assert resp.headers["Location"] == "https://example.com/fast"
                assert resp.headers["Cache-Control"] == "private, max-age=0"
        async with http.head(f"{base}/{code}", allow_redirects=False) as resp:
            assert resp.status == 302
        async with http.get(f"{base}/{code}?utm=x", allow_redirects=False) as resp:
            assert resp.status == 302
        async with http.get(f"{base}/Unknown1") as resp:
            assert resp.status == 404 and "链接不存在" in await resp.text()
        async with http.get(f"{base}/healthz") as resp:
            assert resp.status == 200
        async with http.post(f"{base}/{code}") as resp:
            assert resp.status == 405
    stats = await suo.store.group_stats(group.id)
    # 5 browser GETs; the ?utm GET came from aiohttp's own UA (a bot); HEAD is never counted.
    assert (stats.human_clicks, stats.bot_clicks) == (5, 1)


@pytest.mark.parametrize(
    ("trusted", "distinct_readers"),
    [((), 1), (("127.0.0.0/8",), 3)],
)
async def test_readers_behind_a_trusted_proxy_are_told_apart(
    suo: Suo, config: Config, trusted: tuple[str, ...], distinct_readers: int
) -> None:
    """Behind nginx every peer is 127.0.0.1: X-Forwarded-For decides, but only from a
    trusted proxy, and a client-supplied left part never wins over the proxy's own entry."""
    _, code = await make_link(suo, "https://example.com/proxy")
    app = create_app(
        suo.store, suo.recorder, public_url="https://suo.test", trusted_proxies=trusted
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        for forwarded in ("203.0.113.7", "198.51.100.2", "6.6.6.6, 192.0.2.1", "192.0.2.1"):
            resp = await c.get(
                f"/{code}",
                headers={"User-Agent": CHROME_ANDROID, "X-Forwarded-For": forwarded},
                allow_redirects=False,
            )
            assert resp.status == 302
    rows = await clicks_rows(config)
    assert len(rows) == 4
    assert len({r[4] for r in rows}) == distinct_readers


async def test_health_and_favicon_need_no_link(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    favicon = await client.get("/favicon.ico")
    assert favicon.status == 204 and "max-age" in favicon.headers["Cache-Control"]

"""活码 (live codes) as a group's admins and readers meet them: the poster, re-pointing through a
running redirector, rotation by cap and by expiry, the page when nothing is left, reminders
sent once across processes, and members kept out of changes.

Time is a FakeClock throughout; the redirector reads the same clock.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import aiosqlite
import pytest
import zxingcpp
from PIL import Image

from bot.chart import ChartFonts
from bot.config import Config
from bot.live import LiveWatch, due_reminders
from bot.model import Group, IncomingMessage, LiveTarget, Reply
from bot.qr import render_qr_png
from bot.scheduler import Send
from bot.storage import open_store
from bot.storage.sqlite import MIGRATIONS, SqliteStore
from suo.app import Suo
from tests.conftest import (
    BOTH_ENGINES,
    FIXED_NOW,
    FakeClock,
    group_message,
    image_of,
    serving,
    telegram_config,
    wecom_config,
)
from tests.fake_telegram import FakeBotApi
from tests.fake_wecom import FakeWeCom
from tests.telegram_builders import DEFAULT_CHAT_ID, group_photo_update, group_text_update
from tests.test_redirector import CHROME_ANDROID, TELEGRAM_PREVIEW, WECHAT_IOS

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

SHORT = re.compile(r"https://suo\.test/([A-Za-z0-9]{7})")
GROUP_QR = "https://weixin.qq.com/g/AQYAAFxyz0123456789abcdEFGH"


def admin(text: str, **kwargs: object) -> IncomingMessage:
    return replace(group_message(text, **kwargs), is_admin=True)  # type: ignore[arg-type]


async def say(suo: Suo, message: IncomingMessage) -> Reply:
    (reply,) = await suo.core.handle(message)
    return reply


async def create(suo: Suo, args: str) -> str:
    """`/live create <args>` as an admin; the new code."""
    reply = await say(suo, admin(f"/live create {args}"))
    (code,) = set(SHORT.findall(reply.text))
    return code


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def scan(
    http: aiohttp.ClientSession, base: str, code: str, ua: str = CHROME_ANDROID
) -> tuple[int, str]:
    """A reader's GET: (status, where the 302 sends them or the page's text)."""
    async with http.get(
        f"{base}/{code}", headers={"User-Agent": ua}, allow_redirects=False
    ) as resp:
        return resp.status, resp.headers.get("Location") or await resp.text()


# -- creating, and who may change what -----------------------------------------------------------


async def test_admin_creates_a_live_code_and_gets_a_poster_with_its_name(suo: Suo) -> None:
    reply = await say(suo, admin("/活码 创建 读书会周末群 https://example.com/join"))
    (code,) = set(SHORT.findall(reply.text))
    assert "读书会周末群" in reply.text and "https://example.com/join" in reply.text
    (poster,) = reply.images
    image = Image.open(io.BytesIO(poster.png))
    assert image.format == "PNG" and image.width == 1080 and image.height > 1080
    assert decode(poster.png) == [f"https://suo.test/{code}"]
    # The caption is drawn under the QR: dark pixels in the band below the code.
    grey = image.convert("L")
    band = grey.crop((0, image.height - 170, image.width, image.height - 40))
    assert band.getextrema()[0] < 100, "caption missing"
    # Its characters can all be drawn (no tofu boxes) with the fonts the bot found.
    assert ChartFonts.find().missing("读书会周末群") == ""
    listed = await say(suo, group_message("/live list"))
    assert "读书会周末群" in listed.text and "https://example.com/join" in listed.text
    taken = await say(suo, admin("/live create 读书会周末群"))
    assert "已有名为" in taken.text


async def test_a_member_cannot_change_a_live_code_but_may_look(suo: Suo) -> None:
    code = await create(suo, "club https://example.com/a")
    for attempt in (
        "/live create mine",
        "/live set club https://evil.example/x",
        "/live add club https://evil.example/y",
        "/live delete club",
        "/活码 设置 club https://evil.example/z",
    ):
        refused = await say(suo, group_message(attempt, user="mallory"))
        assert refused.text == "只有群管理员可以使用这个命令。", attempt
    target = await suo.store.current_live_target(code, FIXED_NOW)
    assert target is not None and target.url == "https://example.com/a"
    shown = await say(suo, group_message("/live show club", user="mallory"))
    assert "https://example.com/a" in shown.text and "当前" in shown.text


async def test_live_codes_belong_to_their_group(suo: Suo) -> None:
    await create(suo, "club https://example.com/a")
    other = await say(suo, admin("/live set club https://example.com/b", chat="g2"))
    assert "没有名为" in other.text


# -- through the running redirector --------------------------------------------------------------


async def test_a_re_point_is_followed_by_the_very_next_scan(
    suo: Suo, http: aiohttp.ClientSession
) -> None:
    code = await create(suo, "club https://example.com/week1")
    async with serving(suo.redirector_app()) as base:
        assert await scan(http, base, code) == (302, "https://example.com/week1")
        assert await scan(http, base, code) == (302, "https://example.com/week1")  # cached now
        await say(suo, admin("/live set club https://example.com/week2"))
        assert await scan(http, base, code) == (302, "https://example.com/week2")
        # Another redirector process (its own store and cache) follows at once too.
        other = await Suo.open(suo.config, frozenset(), clock=suo.clock)
        try:
            async with serving(other.redirector_app()) as other_base:
                assert await scan(http, other_base, code) == (302, "https://example.com/week2")
                await say(suo, admin("/live set club https://example.com/week3"))
                assert await scan(http, other_base, code) == (302, "https://example.com/week3")
        finally:
            await other.shutdown()
    shown = await say(suo, group_message("/live show club"))
    assert "历史目标" in shown.text
    assert (
        "https://example.com/week1（打开 2 次，用到 2026-11-23 17:30 (Asia/Shanghai)）"
        in shown.text
    )


async def test_scans_move_to_the_next_target_when_one_is_full(
    suo: Suo, http: aiohttp.ClientSession
) -> None:
    code = await create(suo, "club https://example.com/group1 cap=2")
    await say(suo, admin("/live add club https://example.com/group2 cap=3"))
    async with serving(suo.redirector_app()) as base:
        # A link preview and a HEAD see the current target and take none of its opens.
        assert await scan(http, base, code, TELEGRAM_PREVIEW) == (
            302,
            "https://example.com/group1",
        )
        async with http.head(f"{base}/{code}", allow_redirects=False) as resp:
            assert resp.headers["Location"] == "https://example.com/group1"
        seen = [await scan(http, base, code) for _ in range(5)]
        assert [location for _, location in seen] == [
            "https://example.com/group1",
            "https://example.com/group1",
            "https://example.com/group2",
            "https://example.com/group2",
            "https://example.com/group2",
        ]
        targets = await suo.store.live_targets(code)
        assert [(t.url, t.opens) for t in targets] == [
            ("https://example.com/group1", 2),
            ("https://example.com/group2", 3),
        ]
        status, page = await scan(http, base, code)
        assert status == 503 and "联系群主" in page
    shown = await say(suo, group_message("/live show club"))
    assert "已打开 2/2 次" in shown.text and "已满" in shown.text


async def test_concurrent_scans_never_overfill_a_target(
    suo: Suo, http: aiohttp.ClientSession
) -> None:
    code = await create(suo, "club https://example.com/group1 cap=10")
    await say(suo, admin("/live add club https://example.com/group2"))
    async with serving(suo.redirector_app()) as base:
        seen = await asyncio.gather(*(scan(http, base, code) for _ in range(30)))
    locations = [location for _, location in seen]
    assert locations.count("https://example.com/group1") == 10
    assert locations.count("https://example.com/group2") == 20


async def test_two_processes_claiming_at_once_never_overfill_a_target(
    suo: Suo, config: Config, clock: FakeClock
) -> None:
    """Two stores (two connections, as two redirector processes have) claim together: the
    claim must be atomic in the database, not only behind one store's lock."""
    code = await create(suo, "club https://example.com/group1 cap=10")
    await say(suo, admin("/live add club https://example.com/group2 cap=10"))
    other = await open_store(config.storage.url)
    try:
        claims = await asyncio.gather(
            *(
                store.claim_live_target(code, clock())
                for _ in range(12)
                for store in (suo.store, other)
            )
        )
    finally:
        await other.close()
    urls = [claim.url if claim is not None else None for claim in claims]
    assert urls.count("https://example.com/group1") == 10
    assert urls.count("https://example.com/group2") == 10
    assert urls.count(None) == 4


async def test_scans_move_on_when_a_target_expires(
    suo: Suo, clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    code = await create(suo, "club https://example.com/today expires=12h")
    await say(suo, admin("/live add club https://example.com/tomorrow"))
    async with serving(suo.redirector_app()) as base:
        assert await scan(http, base, code) == (302, "https://example.com/today")
        clock.now = FIXED_NOW + timedelta(hours=12)
        assert await scan(http, base, code) == (302, "https://example.com/tomorrow")
    shown = await say(suo, group_message("/live show club"))
    assert "已过期" in shown.text


async def test_an_admin_drops_a_target_from_the_pool(
    suo: Suo, http: aiohttp.ClientSession
) -> None:
    code = await create(suo, "club https://example.com/a")
    await say(suo, admin("/live add club https://example.com/b"))
    shown = await say(suo, group_message("/活码 club"))
    assert "1. [当前] https://example.com/a" in shown.text
    assert "2. [备用] https://example.com/b" in shown.text
    assert "没有第 3 个" in (await say(suo, admin("/live drop club 3"))).text
    assert "活码用法" in (await say(suo, admin("/live frobnicate club"))).text
    refused = await say(suo, group_message("/live drop club 1", user="mallory"))
    assert refused.text == "只有群管理员可以使用这个命令。"
    dropped = await say(suo, admin("/活码 移除 club 1"))
    assert "https://example.com/a" in dropped.text
    async with serving(suo.redirector_app()) as base:
        assert await scan(http, base, code) == (302, "https://example.com/b")
    link = await suo.store.get_link(code)
    assert link is not None and link.url == "https://example.com/b"  # the info page follows


async def test_a_wechat_group_qr_photo_becomes_the_target_for_seven_days(
    suo: Suo, clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    code = await create(suo, "读书会")
    photo = image_of(render_qr_png(GROUP_QR), "group.png")
    reply = await say(suo, replace(admin("/live set 读书会"), images=(photo,)))
    assert GROUP_QR in reply.text
    assert "2026-11-30 17:30 (Asia/Shanghai) 过期" in reply.text  # upload + 7 days, group time
    (target,) = await suo.store.live_targets(code)
    assert target.expires_at == FIXED_NOW + timedelta(days=7)
    async with serving(suo.redirector_app()) as base:
        # WeChat joins groups from QR images, not links: the reader gets the QR to long-press.
        status, page = await scan(http, base, code, WECHAT_IOS)
        assert status == 200 and "长按识别二维码加入群聊" in page
        (data,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
        assert decode(base64.b64decode(data)) == [GROUP_QR]
        assert (await suo.store.live_targets(code))[0].opens == 1  # counted like a 302
        clock.now = FIXED_NOW + timedelta(days=7)
        status, page = await scan(http, base, code, WECHAT_IOS)
        assert status == 503 and "联系群主" in page
    # An explicit expiry wins over the 7-day default.
    later = await say(suo, replace(admin("/live set 读书会 expires=3d"), images=(photo,)))
    assert "2026-12-03 17:30 (Asia/Shanghai) 过期" in later.text


async def test_a_photo_without_a_qr_or_a_target_of_ours_is_refused(suo: Suo) -> None:
    await create(suo, "club")
    blank = Image.new("RGB", (200, 200), "white")
    out = io.BytesIO()
    blank.save(out, format="PNG")
    reply = await say(suo, replace(admin("/live set club"), images=(image_of(out.getvalue()),)))
    assert "没有找到含网址的二维码" in reply.text
    own = await say(suo, admin("/live set club https://suo.test/AbCdEfG"))
    assert "不能指向本服务的短链接" in own.text
    assert "请给出目标网址" in (await say(suo, admin("/live set club"))).text
    # The same gate as short links: a group robot's key is never published as a target.
    hook = (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    )
    refused = await say(suo, admin(f"/live set club {hook}"))
    assert "693a91f6" not in refused.text
    assert "693a91f6" not in (await say(suo, group_message("/live show club"))).text


async def test_a_deleted_live_code_says_it_was_removed(
    suo: Suo, http: aiohttp.ClientSession
) -> None:
    code = await create(suo, "club https://example.com/a")
    async with serving(suo.redirector_app()) as base:
        assert (await scan(http, base, code))[0] == 302
        deleted = await say(suo, admin("/live delete club"))
        assert "已删除" in deleted.text
        status, page = await scan(http, base, code)
        assert status == 410 and "删除" in page
    assert "还没有活码" in (await say(suo, group_message("/live list"))).text
    await create(suo, "club https://example.com/again")  # the name is free again


async def test_a_target_url_is_shortened_apart_from_the_live_code(suo: Suo) -> None:
    code = await create(suo, "club https://example.com/a")
    (reply,) = await suo.core.handle(group_message("see https://example.com/a"))
    (short,) = SHORT.findall(reply.text)
    assert short != code
    link = await suo.store.get_link(code)
    assert link is not None and link.kind == "live" and link.url == "https://example.com/a"


# -- reminders -----------------------------------------------------------------------------------


class RecordingChannel:
    def __init__(self) -> None:
        self.delivered: list[tuple[int, str]] = []

    async def reaches(self, group: Group) -> bool:
        return True

    def sends(self, group: Group, text: str, chart: bytes | None) -> Sequence[Send]:
        async def send() -> None:
            await asyncio.sleep(0)  # let the other process's check interleave
            self.delivered.append((group.id, text))

        return [send]


async def test_reminders_go_out_once_from_two_processes_24_hours_before_expiry(
    suo: Suo, clock: FakeClock
) -> None:
    await create(suo, "club https://example.com/a expires=7d")
    channel = RecordingChannel()
    second = await open_store(suo.config.storage.url)
    try:
        watches = [
            LiveWatch(suo.store, {"console": channel}, clock, "https://suo.test", owner="a"),
            LiveWatch(second, {"console": channel}, clock, "https://suo.test", owner="b"),
        ]
        clock.now = FIXED_NOW + timedelta(days=5, hours=23)  # 25 h left: too early
        assert await asyncio.gather(*(w.check() for w in watches)) == [0, 0]
        clock.now = FIXED_NOW + timedelta(days=6, hours=1)  # 23 h left
        sent = await asyncio.gather(*(w.check() for w in watches))
        assert sorted(sent) == [0, 1]
        # Later checks, a restarted process: nothing twice.
        restarted = LiveWatch(second, {"console": channel}, clock, "https://suo.test", owner="c")
        assert await restarted.check() == 0
        assert await asyncio.gather(*(w.check() for w in watches)) == [0, 0]
    finally:
        await second.close()
    ((_, text),) = channel.delivered
    assert "2026-11-30 17:30 (Asia/Shanghai)" in text and "/live set club" in text


async def test_a_pool_running_dry_alerts_the_admins_once(
    suo: Suo, clock: FakeClock, http: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await create(suo, "club https://example.com/a cap=10")
    assert suo.live is not None
    await suo.live.start()  # as `suo run` starts it (its first check finds nothing due)
    try:
        await suo.live.settled()
        assert await suo.live.check() == 0
        async with serving(suo.redirector_app()) as base:
            for _ in range(9):
                await scan(http, base, code)
            assert await suo.live.check() == 1  # one open left and no backup: nearly full
            assert "快满了" in capsys.readouterr().out
            await scan(http, base, code)
            for _ in range(3):
                status, _ = await scan(http, base, code)
                assert status == 503
            await suo.live.settled()  # the redirector woke the check up
        printed = capsys.readouterr().out
        assert printed.count("已没有可用目标") == 1 and f"https://suo.test/{code}" in printed
        assert await suo.live.check() == 0
        # Refilled and run dry again (a while later): the group hears about the new emptiness.
        clock.now = FIXED_NOW + timedelta(minutes=5)
        await say(suo, admin("/live set club https://example.com/b cap=1"))
        async with serving(suo.redirector_app()) as base:
            await scan(http, base, code)
            await scan(http, base, code)
            await suo.live.settled()
        assert capsys.readouterr().out.count("已没有可用目标") == 1
    finally:
        await suo.live.stop()


def target(
    target_id: int, *, cap: int | None = None, opens: int = 0, hours: float | None = None
) -> LiveTarget:
    expires = None if hours is None else FIXED_NOW + timedelta(hours=hours)
    return LiveTarget(
        target_id, "c", f"https://e.example/{target_id}", cap, opens, expires, 0, FIXED_NOW
    )


@pytest.mark.parametrize(
    ("pool", "expected"),
    [
        ([], []),
        ([target(1)], []),
        ([target(1, hours=25)], []),
        ([target(1, hours=23)], [("expiring", 1)]),
        ([target(1, hours=23), target(2)], [("expiring", 1)]),
        ([target(1, cap=190, opens=170)], []),
        ([target(1, cap=190, opens=171)], [("filling", 1)]),
        ([target(1, cap=190, opens=171), target(2)], []),  # a backup follows
        ([target(1, cap=5, opens=5), target(2, hours=-1)], [("empty", 2)]),
        ([target(1, cap=3, opens=2)], [("filling", 1)]),
    ],
)
def test_which_reminders_are_due(pool: list[LiveTarget], expected: list[tuple[str, int]]) -> None:
    due = due_reminders(pool, FIXED_NOW)
    assert [(r.kind.value, r.target_id) for r in due] == expected


async def test_wecom_reminders_go_through_the_bound_group_robot(
    config: Config, clock: FakeClock
) -> None:
    async with FakeWeCom() as fake:
        suo = await Suo.open(wecom_config(config, fake), clock=clock)
        try:
            message = admin(
                "/live create club https://example.com/a expires=1d",
                chat="wrLive",
                platform="wecom",
            )
            await suo.core.handle(message)
            key = "0f8b2c1e-1234-4bc4-97a0-0ec2livecode1"
            fake.add_webhook_key(key)
            group = await suo.store.upsert_group("wecom", "wrLive", "Group wrLive")
            await suo.store.bind_webhook(group.id, key, None, clock())
            assert suo.live is not None
            assert await suo.live.check() == 1
            assert await suo.live.check() == 0
        finally:
            await suo.shutdown()
    ((message_sent,),) = [fake.webhook_messages(key)]
    assert message_sent["msgtype"] == "markdown"
    assert "club" in message_sent["markdown"]["content"]


async def test_on_telegram_a_group_qr_photo_re_points_and_the_group_is_reminded(
    config: Config, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # PTB 22 otherwise warns on RetryAfter
    async with FakeBotApi(token="123:ABC-live-token", can_read_all_group_messages=True) as api:
        suo = await Suo.open(telegram_config(config, api), clock=clock)
        await suo.start()
        try:
            api.set_member_status(DEFAULT_CHAT_ID, 42, "administrator")
            api.push_update(group_text_update("/live create 周末群"))
            (created,) = await api.wait_for_call("sendPhoto")
            (code,) = set(SHORT.findall(created.params["caption"]))
            assert decode(created.files["photo"].data) == [f"https://suo.test/{code}"]
            sizes = api.add_photo(render_qr_png(GROUP_QR))
            api.push_update(group_photo_update(sizes, caption="/活码 设置 周末群"))
            (done,) = await api.wait_for_call("sendMessage")
            assert GROUP_QR in done.params["text"] and "现在指向" in done.params["text"]
            clock.now = FIXED_NOW + timedelta(days=6, hours=1)
            assert suo.live is not None
            assert await suo.live.check() == 1
            _, reminder = await api.wait_for_call("sendMessage", count=2)
            assert reminder.params["chat_id"] == DEFAULT_CHAT_ID
            assert "周末群" in reminder.params["text"] and "过期" in reminder.params["text"]
        finally:
            await suo.stop()
            await suo.shutdown()


# -- storage -------------------------------------------------------------------------------------


async def test_upgrading_a_database_keeps_its_links(tmp_path: Path) -> None:
    path = f"{tmp_path}/old.db"
    async with aiosqlite.connect(path) as db:
        for version, script in enumerate(MIGRATIONS[:6], start=1):
            await db.executescript(script)
            await db.execute(f"PRAGMA user_version = {version}")
        await db.execute(
            "INSERT INTO groups (platform, chat_id, title, created_at) VALUES "
            "('console', 'g1', 'G', '2026-01-01T00:00:00+00:00')"
        )
        await db.execute(
            "INSERT INTO links (code, url, group_id, created_at, max_clicks, human_opens) "
            "VALUES ('old0001', 'https://example.com/old', 1, '2026-01-01T00:00:00+00:00', 5, 2)"
        )
        await db.commit()
    store = await SqliteStore.open(path)
    try:
        link = await store.get_link("old0001")
        assert link is not None and link.url == "https://example.com/old"
        assert (link.kind, link.rules.max_clicks, link.human_opens) == ("short", 5, 2)
        # The same URL in the same group is still one short link.
        again, created = await store.create_link(
            "new0001", "https://example.com/old", 1, None, FIXED_NOW
        )
        assert (again.code, created) == ("old0001", False)
    finally:
        await store.close()

"""The weekly digest: its schedule in the group's timezone (DST included), its content from a
seeded week in the real store, its chart (every label drawable, bars as tall as the counts),
exactly-once sending across restarts and processes, and delivery to Telegram and WeCom.

Time is a FakeClock throughout; nothing waits on the wall clock for the schedule.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from PIL import Image, ImageDraw

from adapters.digests import WeComDigests
from adapters.wecom_webhook import WeComGroupPusher, WeComWebhook
from bot import chart
from bot.bindings import GroupRobots
from bot.chart import (
    BACKGROUND,
    BAR_COLOR,
    BASELINE_Y,
    MAX_BAR_HEIGHT,
    ChartFonts,
    bar_height,
    draw_text,
    layout_bar_chart,
)
from bot.config import Config, ConfigError, DigestConfig, parse_config
from bot.digest import (
    DigestSchedule,
    DigestWriter,
    build_digest,
    digest_chart,
    parse_when,
    render_digest_chart,
    render_digest_text,
)
from bot.errors import UserError
from bot.model import (
    Click,
    ClickClass,
    Group,
    GroupSettings,
    IncomingMessage,
    Period,
    PeriodStats,
    Reply,
)
from bot.scheduler import DigestScheduler, DigestService, RunOutcome, Send
from bot.storage import Store, open_store
from suo.app import Suo
from tests.conftest import (
    BOTH_ENGINES,
    REPO,
    FakeClock,
    group_message,
    telegram_config,
    wecom_config,
)
from tests.fake_telegram import FakeBotApi
from tests.fake_wecom import FakeWeCom, md5_hex

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

SCREENSHOTS = REPO / "build" / "screenshots"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
TOKEN = "123:ABC-digest-token"
TG_CHAT = "-1001234567890"

# The seeded week: the Monday 2026-11-23 09:00 (Shanghai) digest covers Mon 11-16 .. Sun 11-22.
FIRE = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
WEEK_START = datetime(2026, 11, 16, 0, 0, tzinfo=SHANGHAI)
PER_DAY = (3, 0, 5, 2, 1, 0, 4)  # human opens, Monday to Sunday
TITLE = "读书会 Reading Club"


def at(day: int, hour: int = 12, month: int = 11) -> datetime:
    """Local (Shanghai) time in 2026."""
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Seeded:
    group: Group
    codes: tuple[str, ...]


async def seed_week(store: Store, platform: str = "console", chat: str = "readers") -> Seeded:
    """Two weeks of a reading group, with counts chosen so every number is known.

    This week: 2 links shared, 15 human opens (3,0,5,2,1,0,4 per day), 6 previews, 2 bots,
    12 unique readers (distinct visitors per day, summed). Last week: 2 links, 10 opens,
    8 readers. Clicks stay off the UTC days the weeks share, where readers are counted by
    UTC day.
    """
    group = await store.upsert_group(platform, chat, TITLE + " 📚", "zh-CN")
    alice = await store.upsert_user(platform, "alice", "爱丽丝")
    bob = await store.upsert_user(platform, "bob", "Bob")
    links = (
        ("read001", "https://example.com/深度学习入门", alice, at(16, 10)),
        ("read002", "https://example.org/rust-async", bob, at(18)),
        ("read003", "https://example.net/old-post", alice, at(10)),
        ("read004", "https://example.net/older", bob, at(11)),
    )
    for code, url, sharer, created in links:
        await store.create_link(code, url, group.id, sharer, created)
    clicks: list[Click] = []

    def add(code: str, when: datetime, klass: ClickClass, platform: str, visitor: str) -> None:
        clicks.append(Click(len(clicks) + 1, code, ms(when), klass, platform, "", visitor))

    human = ClickClass.HUMAN
    # This week, human opens by local day (noon, so on the same UTC day) and visitor.
    this_week = {
        16: [("read001", "wechat", "v1"), ("read001", "wechat", "v1"), ("read002", "ios", "v2")],
        18: [
            ("read001", "wechat", "v1"),
            ("read001", "wechat", "v2"),
            ("read002", "ios", "v3"),
            ("read002", "ios", "v3"),
            ("read003", "desktop", "v4"),
        ],
        19: [("read001", "wechat", "v1"), ("read001", "wechat", "v5")],
        20: [("read003", "desktop", "v6")],
        22: [
            ("read001", "wechat", "v1"),
            ("read001", "wechat", "v2"),
            ("read001", "wechat", "v2"),
            ("read002", "ios", "v7"),
        ],
    }
    for day, opens in this_week.items():
        for code, platform, visitor in opens:
            add(code, at(day), human, platform, visitor)
    for i in range(6):
        add("read001" if i < 4 else "read002", at(17, 9 + i), ClickClass.PREVIEW, "telegram", "p")
    for i in range(2):
        add("read001", at(21, 9 + i), ClickClass.BOT, "other", "b")
    # Last week: 10 opens, 8 readers.
    last_week = {10: ["w1", "w2", "w3", "w4"], 12: ["w1", "w1", "w2"], 14: ["w5", "w6", "w6"]}
    for day, visitors in last_week.items():
        for visitor in visitors:
            add("read003", at(day), human, "wechat", visitor)
    add("read003", at(12, 15), ClickClass.PREVIEW, "telegram", "p")
    assert await store.add_clicks(clicks) == len(clicks)
    return Seeded(group, tuple(code for code, *_ in links))


@pytest.fixture(scope="module")
def fonts() -> ChartFonts:
    return ChartFonts.find()


@pytest.fixture
def cjk_fonts(fonts: ChartFonts) -> ChartFonts:
    if not fonts.has_cjk:
        pytest.skip(
            "no font with Chinese glyphs here (Debian: apt-get install fonts-droid-fallback)"
        )
    return fonts


def save_screenshot(name: str, png: bytes) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / name).write_bytes(png)


# -- schedule arithmetic ---------------------------------------------------------------------


def schedule(tz: ZoneInfo, weekday: int = 0, hour: int = 9, minute: int = 0) -> DigestSchedule:
    return DigestSchedule(weekday, hour, minute, tz)


def test_shanghai_fires_monday_0900_local_every_week() -> None:
    s = schedule(SHANGHAI)
    fire = s.next_fire(datetime(2026, 11, 20, tzinfo=UTC))
    assert fire == FIRE and fire.astimezone(UTC) == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert s.last_fire(datetime(2026, 11, 23, 1, 0, tzinfo=UTC)) == FIRE  # on the dot counts
    assert s.last_fire(datetime(2026, 11, 23, 0, 59, tzinfo=UTC)) == FIRE - timedelta(days=7)
    week = s.week_before(FIRE)
    assert week == Period(WEEK_START.astimezone(UTC), at(23, 0).astimezone(UTC))
    assert week.start == datetime(2026, 11, 15, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "after", "utc_before", "utc_after", "hours"),
    [
        # Spring forward on Sunday 2026-03-08: EST (UTC-5) then EDT (UTC-4).
        (datetime(2026, 3, 2, 9), datetime(2026, 3, 9, 9), 14, 13, 167),
        # Fall back on Sunday 2026-11-01: EDT then EST.
        (datetime(2026, 10, 26, 9), datetime(2026, 11, 2, 9), 13, 14, 169),
    ],
)
def test_new_york_fires_at_0900_local_on_both_sides_of_a_dst_change(
    before: datetime, after: datetime, utc_before: int, utc_after: int, hours: int
) -> None:
    s = schedule(NEW_YORK)
    trigger = s.trigger()  # what the APScheduler job is given
    first = trigger.get_next_fire_time(None, before.replace(tzinfo=UTC) - timedelta(days=1))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    for fire, local, utc_hour in ((first, before, utc_before), (second, after, utc_after)):
        assert fire.replace(tzinfo=None) == local  # 09:00 on the wall clock, both weeks
        assert fire.astimezone(UTC).hour == utc_hour
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=hours)
    # The service finds the same fire time from a clock reading just after it...
    assert s.last_fire(second.astimezone(UTC) + timedelta(minutes=5)) == second
    # ...and the week it covers runs from midnight to midnight local, 167 or 169 hours long.
    week = s.week_before(second)
    assert week.start.astimezone(NEW_YORK).replace(tzinfo=None) == before.replace(hour=0)
    assert week.end.astimezone(NEW_YORK).replace(tzinfo=None) == after.replace(hour=0)
    assert week.end - week.start == timedelta(hours=hours)
    assert week.days == 7


@pytest.mark.parametrize(
    ("tz", "local_day", "hour"),
    [
        ("Europe/Berlin", datetime(2026, 10, 25), 2),  # 03:00 CEST -> 02:00 CET
        ("America/New_York", datetime(2026, 11, 1), 1),  # 02:00 EDT -> 01:00 EST
    ],
)
def test_a_digest_time_inside_the_repeated_autumn_hour_is_found_without_spinning(
    tz: str, local_day: datetime, hour: int
) -> None:
    """Sunday hh:30 happens twice on the night the clocks go back; finding the last fire time
    must still finish (it once looped forever there, freezing the event loop)."""
    zone = ZoneInfo(tz)
    s = schedule(zone, weekday=6, hour=hour, minute=30)
    first = local_day.replace(hour=hour, minute=30, tzinfo=zone)  # fold 0: the first pass
    for minutes_after in (1, 61, 60 * 24):
        now = first.astimezone(UTC) + timedelta(minutes=minutes_after)
        fire = s.last_fire(now)
        assert fire.replace(tzinfo=None) == first.replace(tzinfo=None)
        assert fire.astimezone(UTC) <= now
    # A week on (an hour more in UTC, the clocks having gone back), the next Sunday's.
    next_week = s.last_fire(first.astimezone(UTC) + timedelta(days=7, hours=2))
    assert next_week.replace(tzinfo=None) == first.replace(tzinfo=None) + timedelta(days=7)


def test_group_schedule_comes_from_its_settings_and_timezone() -> None:
    group = Group(
        1,
        "console",
        "g",
        "G",
        "en",
        GroupSettings(digest_weekday=4, digest_time="18:30"),
        tz="Europe/Berlin",
    )
    s = DigestSchedule.of(group)
    assert (s.weekday, s.hour, s.minute, s.tz) == (4, 18, 30, ZoneInfo("Europe/Berlin"))
    broken = replace(group, tz="Mars/Olympus", settings=GroupSettings(digest_time="late"))
    fallback = DigestSchedule.of(broken)
    assert (fallback.hour, fallback.minute, fallback.tz) == (9, 0, SHANGHAI)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("周五 18:30", (4, "18:30")),
        ("星期日 8:05", (6, "08:05")),
        ("礼拜三", (2, None)),
        ("fri 18:30", (4, "18:30")),
        ("Monday 9:00", (0, "09:00")),
        ("time tue 07:15", (1, "07:15")),
        ("周一09：00", (0, "09:00")),
        ("20:00", (None, "20:00")),
    ],
)
def test_weekday_and_time_are_read_in_english_and_chinese(
    text: str, expected: tuple[int | None, str | None]
) -> None:
    assert parse_when(text) == expected


@pytest.mark.parametrize("text", ["someday 9:00", "mon 25:00", "mon 9:61", "9", ""])
def test_bad_times_are_user_errors(text: str) -> None:
    with pytest.raises(UserError):
        parse_when(text)


# -- content -----------------------------------------------------------------------------------


async def test_digest_numbers_and_text_match_the_seeded_week(suo: Suo, fonts: ChartFonts) -> None:
    seeded = await seed_week(suo.store)
    written = await DigestWriter(suo.store, "https://suo.test", fonts).week_before(
        seeded.group, FIRE
    )
    digest = written.digest
    week, last = digest.this_week, digest.last_week
    assert (week.links_shared, week.human, week.previews, week.bots) == (2, 15, 6, 2)
    assert week.unique_readers == 12
    assert (last.links_shared, last.human, last.unique_readers) == (2, 10, 8)
    assert (digest.links_change, digest.human_change, digest.readers_change) == (
        "±0%",
        "+50%",
        "+50%",
    )
    assert [d.human for d in digest.days] == list(PER_DAY)
    assert [d.day.isoformat() for d in digest.days][:2] == ["2026-11-16", "2026-11-17"]
    assert [(link.code, link.human, link.sharer) for link in digest.top_links] == [
        ("read001", 9, "爱丽丝"),
        ("read002", 4, "Bob"),
        ("read003", 2, "爱丽丝"),
    ]
    assert [(s.name, s.links, s.human) for s in digest.top_sharers] == [
        ("爱丽丝", 2, 11),
        ("Bob", 1, 4),
    ]
    assert [(p.platform, p.percent) for p in digest.platforms] == [
        ("wechat", 60),
        ("ios", 27),
        ("desktop", 13),
    ]
    assert not digest.quiet and written.chart is not None

    text = written.text
    assert text.splitlines()[0] == f"📊 {TITLE} 📚 周报 · 11月16日–11月22日"
    assert "分享 2 个链接，真人打开 15 次，独立读者 12；另有链接预览 6 次、机器人 2 次。" in text
    assert "较上周：链接 ±0%，打开 +50%，读者 +50%" in text
    assert "1. https://suo.test/read001 9 次 · 爱丽丝\n   https://example.com/深度学习入门" in text
    assert "1. 爱丽丝：2 个链接，打开 11 次" in text
    assert "打开平台：微信 60%、iPhone/iPad 浏览器 27%、电脑浏览器 13%" in text

    english = render_digest_text(digest, "en", "https://suo.test")
    assert english.splitlines()[0] == f"📊 {TITLE} 📚 weekly digest · Nov 16–Nov 22"
    assert "2 links shared, 15 human opens, 12 unique readers" in english
    assert "vs last week: links ±0%, opens +50%, readers +50%" in english
    assert "Opened on: WeChat 60%, iPhone/iPad browsers 27%, desktop browsers 13%" in english


def test_build_digest_is_pure_and_a_quiet_week_gets_a_short_note() -> None:
    group = Group(7, "console", "g", "安静的群", "zh-CN")
    period = DigestSchedule.of(group).week_before(FIRE)
    empty = _stats(group, period, per_day=(0,) * 7)
    digest = build_digest(group, period, empty, _stats(group, period.before(), human=3))
    assert digest.quiet
    assert digest.human_change == "-100%"
    text = render_digest_text(digest, "zh-CN", "https://suo.test")
    assert text.splitlines() == [
        "📊 安静的群 周报 · 11月16日–11月22日",
        "这一周很安静：没有分享新链接，也没有人打开链接。下周见！",
    ]
    unchanged = build_digest(group, period, empty, empty)
    assert unchanged.quiet and unchanged.human_change == "±0%"
    assert render_digest_text(unchanged, "zh-CN", "https://suo.test") == text


def test_a_first_week_says_there_is_nothing_to_compare_and_counts_read_naturally() -> None:
    group = Group(8, "console", "g", "新群", "zh-CN")
    period = DigestSchedule.of(group).week_before(FIRE)
    first = _stats(
        group,
        period,
        links_shared=1,
        human=1,
        previews=1,
        bots=1,
        unique_readers=1,
        per_day=(1, 0, 0, 0, 0, 0, 0),
    )
    digest = build_digest(group, period, first, _stats(group, period.before()))
    zh = render_digest_text(digest, "zh-CN", "https://suo.test")
    assert "上周没有可对比的数据" in zh and "新" not in zh.replace("新群", "")
    en = render_digest_text(digest, "en", "https://suo.test")
    assert "1 link shared, 1 human open, 1 unique reader; plus 1 link preview and 1 bot." in en
    assert "Nothing to compare with last week yet" in en and "new" not in en
    assert digest_chart(digest, "en").footer == "1 human open · 1 preview · 1 unique reader"
    grown = build_digest(
        group, period, replace(first, human=2, previews=3), _stats(group, period.before(), human=1)
    )
    en = render_digest_text(grown, "en", "https://suo.test")
    assert "vs last week: links none last week, opens +100%, readers none last week" in en
    assert "2 human opens" in en and "3 link previews" in en


def _stats(group: Group, period: Period, **numbers: object) -> PeriodStats:
    values: dict[str, object] = {
        "links_shared": 0,
        "human": 0,
        "previews": 0,
        "bots": 0,
        "unique_readers": 0,
        "per_day": (0,) * 7,
        "top_links": (),
        "top_sharers": (),
        "platforms": (),
    }
    values.update(numbers)
    return PeriodStats(group=group, period=period, **values)  # type: ignore[arg-type]


async def test_quiet_week_is_written_without_a_chart(suo: Suo, fonts: ChartFonts) -> None:
    group = await suo.store.upsert_group("console", "quiet", "Quiet", "en")
    written = await DigestWriter(suo.store, "https://suo.test", fonts).week_before(group, FIRE)
    assert written.digest.quiet and written.chart is None
    assert "A quiet week" in written.text


# -- chart ----------------------------------------------------------------------------------


def bar_pixels_in_column(image: Image.Image, x: int) -> int:
    """How many pixels of bar colour stand on the baseline at column x."""
    height = 0
    while image.getpixel((x, BASELINE_Y - 1 - height)) == BAR_COLOR:
        height += 1
    return height


def assert_labels_drawn(image: Image.Image, layout: object, fonts: ChartFonts) -> None:
    """Each label, drawn alone on a blank chart, matches the chart's pixels where it has ink:
    nothing covers it, and it is where the layout says."""
    for text in layout.texts:  # type: ignore[attr-defined]
        alone = Image.new("RGB", image.size, BACKGROUND)
        draw_text(ImageDraw.Draw(alone), text, fonts)
        box = Image.eval(alone.convert("L"), lambda v: 255 if v < 250 else 0).getbbox()
        assert box is not None, f"{text.text!r} left no ink"
        ink = Image.eval(alone.crop(box).convert("L"), lambda v: 255 if v < 250 else 0)
        crop = image.crop(box)
        expected = alone.crop(box)
        for y in range(ink.height):
            for x in range(ink.width):
                if ink.getpixel((x, y)):
                    assert crop.getpixel((x, y)) == expected.getpixel((x, y)), text.text


async def test_chart_labels_have_real_glyphs_and_bars_match_the_counts(
    suo: Suo, cjk_fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    writer = DigestWriter(suo.store, "https://suo.test", cjk_fonts)
    digest = (await writer.week_before(seeded.group, FIRE)).digest
    png = render_digest_chart(digest, "zh-CN", cjk_fonts)
    save_screenshot("digest-chart-zh.png", png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    layout = layout_bar_chart(digest_chart(digest, "zh-CN"), cjk_fonts)

    texts = [t.text for t in layout.texts]
    assert texts[0].startswith(TITLE)  # the Chinese title whole; only the emoji may go
    assert texts[1] == "每日真人打开 · 11月16日–11月22日"
    for label in ("周一", "周三", "周日", "11/16", "11/22", *(str(n) for n in PER_DAY)):
        assert label in texts
    assert texts[-1] == "真人打开 15 · 预览 6 · 独立读者 12 · 较上周 +50%"
    for text in texts:
        assert cjk_fonts.missing(text) == "", f"no glyph (a box) for {text!r}"

    assert [bar.value for bar in layout.bars] == list(PER_DAY)
    for bar in layout.bars:
        measured = bar_pixels_in_column(image, (bar.left + bar.right) // 2)
        assert measured == bar_height(bar.value, max(PER_DAY))
    tallest = max(bar_pixels_in_column(image, (b.left + b.right) // 2) for b in layout.bars)
    assert tallest == MAX_BAR_HEIGHT
    # 5 opens on Wednesday are 5/3 of Monday's 3, to the pixel's rounding.
    wed, mon = (bar_pixels_in_column(image, (b.left + b.right) // 2) for b in layout.bars[2::-2])
    assert abs(wed * 3 - mon * 5) <= 5
    assert_labels_drawn(image, layout, cjk_fonts)

    save_screenshot("digest-chart-en.png", render_digest_chart(digest, "en", cjk_fonts))


async def test_without_a_chinese_font_the_chart_is_english_and_has_no_boxes(suo: Suo) -> None:
    seeded = await seed_week(suo.store)
    latin_only = ChartFonts([])  # Pillow's own font only
    writer = DigestWriter(suo.store, "https://suo.test", latin_only)
    written = await writer.week_before(seeded.group, FIRE)
    assert written.chart is not None
    save_screenshot("digest-chart-latin-only.png", written.chart)
    assert not latin_only.has_cjk
    layout = layout_bar_chart(digest_chart(written.digest, "en"), latin_only)
    texts = [t.text for t in layout.texts]
    assert texts[0] == "Reading Club"  # the Chinese part cannot be drawn: left out
    assert texts[1] == "Human opens per day · Nov 16-Nov 22"  # "–" missing: "-" instead
    assert "Mon" in texts and "Sun" in texts
    for text in texts:
        assert latin_only.missing(text) == ""
    image = Image.open(io.BytesIO(written.chart)).convert("RGB")
    assert_labels_drawn(image, layout, latin_only)


async def test_a_machine_without_system_cjk_fonts_still_draws_chinese_labels(
    suo: Suo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Noto, WenQuanYi or Droid installed: the subset shipped with the package draws them."""
    monkeypatch.setattr(chart, "CJK_FONT_CANDIDATES", (("/nonexistent/cjk.ttc", 0),))
    fonts = ChartFonts.find()
    assert fonts.faces[-2] == (str(chart.BUNDLED_CJK_FONT), 0)
    assert fonts.has_cjk
    seeded = await seed_week(suo.store)
    written = await DigestWriter(suo.store, "https://suo.test", fonts).week_before(
        seeded.group, FIRE
    )
    assert written.chart is not None
    save_screenshot("digest-chart-bundled-font.png", written.chart)
    layout = layout_bar_chart(digest_chart(written.digest, "zh-CN"), fonts)
    texts = [t.text for t in layout.texts]
    assert texts[0] == TITLE  # the emoji no bundled font draws is left out, not boxed
    assert "周一" in texts and "周日" in texts
    for text in texts:
        assert fonts.missing(text) == "", text
    image = Image.open(io.BytesIO(written.chart)).convert("RGB")
    assert_labels_drawn(image, layout, fonts)


# -- exactly once ------------------------------------------------------------------------------


class RecordingChannel:
    """A channel that records what it delivers, and fails the first `failures` sends."""

    def __init__(self, failures: int = 0, parts: int = 1) -> None:
        self.failures = failures
        self.parts = parts
        self.attempts = 0
        self.delivered: list[tuple[int, int, str]] = []  # (group id, part, text)
        self.reachable = True
        self.event = asyncio.Event()

    async def reaches(self, group: Group) -> bool:
        return self.reachable

    def sends(self, group: Group, text: str, chart: bytes | None) -> Sequence[Send]:
        def part(number: int) -> Send:
            async def send() -> None:
                self.attempts += 1
                if self.failures > 0:
                    self.failures -= 1
                    raise ConnectionError("network down")
                self.delivered.append((group.id, number, text))
                self.event.set()

            return send

        return [part(n) for n in range(self.parts)]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def service_for(
    store: Store,
    clock: FakeClock,
    channel: RecordingChannel,
    fonts: ChartFonts,
    *,
    owner: str = "process-a",
    sleep: Sleeps | None = None,
    config: DigestConfig | None = None,
) -> DigestService:
    return DigestService(
        store,
        DigestWriter(store, "https://suo.test", fonts),
        {"console": channel},
        clock,
        config or DigestConfig(),
        owner=owner,
        sleep=sleep or Sleeps(),
    )


async def test_missed_digest_is_sent_once_on_start_within_the_grace_window(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    key = DigestSchedule.of(seeded.group).week_before(FIRE).start
    channel = RecordingChannel()
    # The process was down at 09:00 and starts at 23:00 the same day.
    clock.now = FIRE + timedelta(hours=14)
    service = service_for(suo.store, clock, channel, fonts)
    assert await service.run_due(clock()) == {seeded.group.id: RunOutcome.SENT}
    assert len(channel.delivered) == 1 and "真人打开 15 次" in channel.delivered[0][2]
    assert await suo.store.digest_status(seeded.group.id, key) == "sent"
    # Started again (a restart, the trigger, a sweep): nothing goes out twice.
    again = service_for(suo.store, clock, channel, fonts, owner="process-a-restarted")
    assert await again.run_due(clock()) == {seeded.group.id: RunOutcome.TAKEN}
    assert await again.run_due(clock(), retry_only=True) == {seeded.group.id: RunOutcome.NOT_DUE}
    assert len(channel.delivered) == 1


async def test_a_digest_later_than_the_grace_window_is_not_sent(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    channel = RecordingChannel()
    clock.now = FIRE + timedelta(hours=24, minutes=1)
    service = service_for(suo.store, clock, channel, fonts)
    assert await service.run_due(clock()) == {seeded.group.id: RunOutcome.NOT_DUE}
    assert channel.delivered == []
    key = DigestSchedule.of(seeded.group).week_before(FIRE).start
    assert await suo.store.digest_status(seeded.group.id, key) is None
    # A longer window, from config, still catches it.
    wide = service_for(suo.store, clock, channel, fonts, config=DigestConfig(grace_hours=48))
    assert await wide.run_due(clock()) == {seeded.group.id: RunOutcome.SENT}


async def test_two_schedulers_on_one_database_send_one_digest(
    config: Config, clock: FakeClock, fonts: ChartFonts
) -> None:
    # Two processes: two stores on the same SQLite file, each with its own service.
    first = await open_store(config.storage.url)
    second = await open_store(config.storage.url)
    try:
        seeded = await seed_week(first)
        clock.now = FIRE + timedelta(seconds=2)
        channel = RecordingChannel()
        services = [
            service_for(first, clock, channel, fonts, owner="host-a:1"),
            service_for(second, clock, channel, fonts, owner="host-b:1"),
        ]
        outcomes = await asyncio.gather(*(s.run_due(clock()) for s in services))
        assert sorted(o[seeded.group.id] for o in outcomes) == [RunOutcome.SENT, RunOutcome.TAKEN]
        assert len(channel.delivered) == 1
        # The cron triggers of both fire again (coalesced late jobs): still one.
        for service in services:
            assert await service.run_group(seeded.group, clock()) == RunOutcome.TAKEN
        assert len(channel.delivered) == 1
    finally:
        await first.close()
        await second.close()


async def test_a_sender_that_died_mid_run_is_taken_over_after_the_lease(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    key = DigestSchedule.of(seeded.group).week_before(FIRE).start
    clock.now = FIRE
    # Another process claimed the run and vanished before finishing it.
    assert await suo.store.claim_digest(
        seeded.group.id, key, "dead-host:7", FIRE, timedelta(minutes=10)
    )
    channel = RecordingChannel()
    service = service_for(suo.store, clock, channel, fonts)
    clock.now = FIRE + timedelta(minutes=5)
    assert await service.run_due(clock(), retry_only=True) == {seeded.group.id: RunOutcome.TAKEN}
    clock.now = FIRE + timedelta(minutes=11)  # the sweep after the lease ran out
    assert await service.run_due(clock(), retry_only=True) == {seeded.group.id: RunOutcome.SENT}
    assert len(channel.delivered) == 1
    assert await suo.store.digest_status(seeded.group.id, key) == "sent"


async def test_a_failed_send_is_retried_with_backoff_and_only_then_marked_sent(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    key = DigestSchedule.of(seeded.group).week_before(FIRE).start
    clock.now = FIRE
    sleeps = Sleeps()
    channel = RecordingChannel(failures=2, parts=2)
    service = service_for(suo.store, clock, channel, fonts, sleep=sleeps)
    assert await service.run_due(clock()) == {seeded.group.id: RunOutcome.SENT}
    assert sleeps.waits == [30, 60]  # retry_backoff_seconds, doubled
    # The first message failed twice, then both went out once each.
    assert [part for _, part, _ in channel.delivered] == [0, 1]
    assert channel.attempts == 4
    assert await suo.store.digest_status(seeded.group.id, key) == "sent"


async def test_a_send_that_keeps_failing_is_marked_failed_and_retried_by_the_sweep(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    key = DigestSchedule.of(seeded.group).week_before(FIRE).start
    clock.now = FIRE
    sleeps = Sleeps()
    channel = RecordingChannel(failures=3)
    service = service_for(suo.store, clock, channel, fonts, sleep=sleeps)
    assert await service.run_due(clock()) == {seeded.group.id: RunOutcome.FAILED}
    assert channel.delivered == [] and channel.attempts == 3  # bounded: retry_attempts
    assert await suo.store.digest_status(seeded.group.id, key) == "failed"
    clock.now = FIRE + timedelta(minutes=10)
    assert await service.run_due(clock(), retry_only=True) == {seeded.group.id: RunOutcome.SENT}
    assert len(channel.delivered) == 1
    assert await suo.store.digest_status(seeded.group.id, key) == "sent"


async def test_the_sweep_gives_up_on_a_send_that_never_works(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    clock.now = FIRE
    channel = RecordingChannel(failures=1000)
    service = service_for(suo.store, clock, channel, fonts)
    outcomes = [await service.run_due(clock())]
    for minutes in (10, 20, 30, 40):
        clock.now = FIRE + timedelta(minutes=minutes)
        outcomes.append(await service.run_due(clock(), retry_only=True))
    assert [o[seeded.group.id] for o in outcomes] == [RunOutcome.FAILED] * 3 + [
        RunOutcome.NOT_DUE
    ] * 2
    assert channel.attempts == 9  # three runs of three attempts, then no more


async def test_two_processes_together_give_up_after_the_same_number_of_runs(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    """The bound on runs is kept in the database: a second process sweeping the same failed
    digest does not start the count over."""
    seeded = await seed_week(suo.store)
    clock.now = FIRE
    channel = RecordingChannel(failures=1000)
    a = service_for(suo.store, clock, channel, fonts, owner="process-a")
    b = service_for(suo.store, clock, channel, fonts, owner="process-b")
    outcomes = [(await a.run_due(clock()))[seeded.group.id]]
    for minutes in range(10, 70, 10):
        clock.now = FIRE + timedelta(minutes=minutes)
        service = b if minutes % 20 else a
        outcomes.append((await service.run_due(clock(), retry_only=True))[seeded.group.id])
    assert outcomes.count(RunOutcome.FAILED) == 3  # retry_attempts runs in all, not per process
    assert channel.attempts == 9


class TextThenChart:
    """A channel whose second message (the chart) fails while `chart_fails` is set."""

    def __init__(self) -> None:
        self.chart_fails = True
        self.delivered: list[str] = []

    async def reaches(self, group: Group) -> bool:
        return True

    def sends(self, group: Group, text: str, chart: bytes | None) -> Sequence[Send]:
        async def send_text() -> None:
            self.delivered.append("text")

        async def send_chart() -> None:
            if self.chart_fails:
                raise OSError("chart refused")
            self.delivered.append("chart")

        return [send_text, send_chart]


async def test_a_later_run_sends_only_the_messages_still_missing(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    clock.now = FIRE
    channel = TextThenChart()
    service = DigestService(
        suo.store,
        DigestWriter(suo.store, "https://suo.test", fonts),
        {"console": channel},
        clock,
        DigestConfig(),
        owner="process-a",
        sleep=Sleeps(),
    )
    assert await service.run_due(clock()) == {seeded.group.id: RunOutcome.FAILED}
    assert channel.delivered == ["text"]
    channel.chart_fails = False
    clock.now = FIRE + timedelta(minutes=10)
    assert await service.run_due(clock(), retry_only=True) == {seeded.group.id: RunOutcome.SENT}
    assert channel.delivered == ["text", "chart"]  # the text went out once


async def test_a_group_nothing_can_reach_is_not_claimed(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    channel = RecordingChannel()
    channel.reachable = False
    clock.now = FIRE
    service = service_for(suo.store, clock, channel, fonts)
    assert await service.run_due(clock()) == {seeded.group.id: RunOutcome.NO_CHANNEL}
    key = DigestSchedule.of(seeded.group).week_before(FIRE).start
    assert await suo.store.digest_status(seeded.group.id, key) is None
    # Digests switched off by the group's admins: not even looked at.
    off = replace(seeded.group.settings, digest_enabled=False)
    await suo.store.set_group_settings(seeded.group.id, off)
    channel.reachable = True
    assert await service.run_due(clock()) == {}


async def test_real_apscheduler_job_fires_the_service(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store)
    channel = RecordingChannel()
    clock.now = FIRE + timedelta(days=3)  # past the grace window: the catch-up sends nothing
    scheduler = DigestScheduler(
        service_for(suo.store, clock, channel, fonts), suo.store, clock, DigestConfig()
    )
    await scheduler.start()
    try:
        await scheduler.caught_up()
        assert channel.delivered == []
        job = scheduler.scheduler.get_job(scheduler.job_id(seeded.group.id))
        assert job is not None and job.trigger.timezone == SHANGHAI
        # APScheduler counts from the wall clock: whatever today is, a Monday 09:00 there.
        assert job.next_run_time.astimezone(SHANGHAI).strftime("%a %H:%M") == "Mon 09:00"
        # An admin moves the digest to Friday 18:30 Berlin time: the job follows.
        moved = replace(
            seeded.group,
            tz="Europe/Berlin",
            settings=replace(seeded.group.settings, digest_weekday=4, digest_time="18:30"),
        )
        await scheduler.reschedule(moved)
        job = scheduler.scheduler.get_job(scheduler.job_id(seeded.group.id))
        assert job.next_run_time.astimezone(ZoneInfo("Europe/Berlin")).strftime("%a %H:%M") == (
            "Fri 18:30"
        )
        # Make the job due now (APScheduler's own clock); it calls the service, which decides
        # by the injected clock: at the original Monday 09:00 the digest is due.
        clock.now = FIRE + timedelta(minutes=1)
        await scheduler.reschedule(seeded.group)
        job = scheduler.scheduler.get_job(scheduler.job_id(seeded.group.id))
        job.modify(next_run_time=datetime.now(UTC))
        scheduler.scheduler.wakeup()
        async with asyncio.timeout(10):
            await channel.event.wait()
        assert len(channel.delivered) == 1
    finally:
        await scheduler.stop()


# -- delivery ------------------------------------------------------------------------------------


@pytest.fixture
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def telegram_suo(
    config: Config, clock: FakeClock, _ptb_timedelta: None
) -> AsyncIterator[tuple[Suo, FakeBotApi]]:
    async with FakeBotApi(token=TOKEN, can_read_all_group_messages=True) as api:
        suo = await Suo.open(telegram_config(config, api), clock=clock)
        try:
            yield suo, api
        finally:
            await suo.stop()
            await suo.shutdown()


async def test_telegram_gets_the_chart_with_the_digest_as_caption_on_start(
    telegram_suo: tuple[Suo, FakeBotApi], clock: FakeClock
) -> None:
    suo, api = telegram_suo
    seeded = await seed_week(suo.store, "telegram", TG_CHAT)
    await suo.store.upsert_group("telegram", "5550001", "a private chat", "zh-CN")
    clock.now = FIRE + timedelta(hours=2)
    await suo.start()  # the catch-up finds the Monday digest due
    assert suo.digests is not None
    await suo.digests.caught_up()
    (photo,) = api.calls_to("sendPhoto")
    assert photo.params["chat_id"] == int(TG_CHAT)
    assert photo.params["caption"].startswith(f"📊 {TITLE}")
    assert "真人打开 15 次" in photo.params["caption"]
    chart = photo.files["photo"].data
    assert Image.open(io.BytesIO(chart)).format == "PNG"
    assert api.calls_to("sendMessage") == []  # the text fitted the 1,024 caption
    assert [m["chat"]["id"] for m in api.sent_messages()] == [int(TG_CHAT)]  # not the DM
    key = DigestSchedule.of(seeded.group).week_before(FIRE).start
    assert await suo.store.digest_status(seeded.group.id, key) == "sent"


async def test_telegram_digest_over_the_caption_limit_is_a_photo_then_the_text(
    telegram_suo: tuple[Suo, FakeBotApi], clock: FakeClock
) -> None:
    suo, api = telegram_suo
    group = await suo.store.upsert_group("telegram", TG_CHAT, "长链接群", "zh-CN")
    clicks = []
    for n in range(5):
        # Telegram names run to 128 characters; five long ones overflow the caption.
        name = f"分享者{n} " + "名字很长" * 25
        sharer = await suo.store.upsert_user("telegram", str(n), name)
        code = f"long{n:03d}"
        url = f"https://example.com/{'很长的路径' * 20}/{n}"
        await suo.store.create_link(code, url, group.id, sharer, at(16))
        clicks.append(
            Click(100_000 + n, code, ms(at(17)), ClickClass.HUMAN, "wechat", "", f"v{n}")
        )
    await suo.store.add_clicks(clicks)
    clock.now = FIRE + timedelta(minutes=1)
    await suo.start()
    assert suo.digests is not None
    await suo.digests.caught_up()
    key = DigestSchedule.of(group).week_before(FIRE).start
    assert await suo.store.digest_status(group.id, key) == "sent"
    (photo,) = api.calls_to("sendPhoto")
    (text,) = api.calls_to("sendMessage")
    assert photo.params["caption"] == "📊 长链接群 周报 · 11月16日–11月22日"
    assert "https://suo.test/long000" in text.params["text"]
    assert len(photo.params["caption"]) + len(text.params["text"]) > 1024


async def test_telegram_group_that_removed_the_bot_is_not_retried(
    telegram_suo: tuple[Suo, FakeBotApi], clock: FakeClock
) -> None:
    suo, api = telegram_suo
    seeded = await seed_week(suo.store, "telegram", TG_CHAT)
    api.fail_next("sendPhoto", 403, description="Forbidden: bot was kicked from the group chat")
    clock.now = FIRE + timedelta(minutes=1)
    await suo.start()
    assert suo.digests is not None
    await suo.digests.caught_up()
    assert len(api.calls_to("sendPhoto")) == 1  # no retry: it cannot work
    key = DigestSchedule.of(seeded.group).week_before(FIRE).start
    assert await suo.store.digest_status(seeded.group.id, key) == "failed"


async def test_wecom_gets_markdown_and_the_chart_through_the_bound_robot(
    config: Config, clock: FakeClock
) -> None:
    async with FakeWeCom() as fake:
        suo = await Suo.open(wecom_config(config, fake), clock=clock)
        try:
            bound = await seed_week(suo.store, "wecom", "wrBound")
            unbound = await suo.store.upsert_group("wecom", "wrUnbound", "没绑定的群", "zh-CN")
            key = "0f8b2c1e-1234-4bc4-97a0-0ec2digest01"
            fake.add_webhook_key(key)
            await suo.store.bind_webhook(bound.group.id, key, None, clock())
            await suo.store.upsert_user("wecom", "bob", "[红包](https://phish.example)")
            clock.now = FIRE + timedelta(minutes=3)
            assert suo.digests is not None
            outcomes = await suo.digests.service.run_due(clock())
            assert outcomes == {
                bound.group.id: RunOutcome.SENT,
                unbound.id: RunOutcome.NO_CHANNEL,
            }
            markdown, image = fake.webhook_messages(key)
            assert markdown["msgtype"] == "markdown"
            # Names and titles are members' text: never markdown links in the bot's message.
            content = markdown["markdown"]["content"]
            assert "](" not in content and "［红包］（https://phish.example）" in content
            assert "真人打开 15 次" in markdown["markdown"]["content"]
            assert image["msgtype"] == "image"
            png = base64.b64decode(image["image"]["base64"])
            assert image["image"]["md5"] == md5_hex(png)
            assert Image.open(io.BytesIO(png)).format == "PNG"
            assert all(call.key == key for call in fake.webhook_calls)  # nothing else posted

            # The unbound group's admins learn how to bind when they ask about digests.
            ask = replace(
                group_message("/digest", chat="wrUnbound", platform="wecom"), is_admin=True
            )
            (reply,) = await suo.core.handle(ask)
            assert "bind <Webhook 地址>" in reply.text
            assert await suo.store.digest_status(unbound.id, WEEK_START) is None
        finally:
            await suo.shutdown()


async def test_wecom_retry_after_a_refused_image_sends_only_the_image(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    """The robot takes the markdown, then refuses the chart (45009, too many messages): the
    retry sends the chart alone, so the group never reads the digest twice."""
    now = [1_000_000.0]

    class MinuteSleeps(Sleeps):
        async def __call__(self, seconds: float) -> None:
            await super().__call__(seconds)
            now[0] += 61  # the robot's minute passes while we back off

    async with FakeWeCom(clock=lambda: now[0], webhook_messages_per_minute=1) as fake:
        seeded = await seed_week(suo.store, "wecom", "wrRetry")
        key = "0f8b2c1e-1234-4bc4-97a0-0ec2digest02"
        fake.add_webhook_key(key)
        await suo.store.bind_webhook(seeded.group.id, key, None, clock())
        async with aiohttp.ClientSession() as http:
            webhook = WeComWebhook(lambda: http, fake.url)
            robots = GroupRobots(suo.store, clock)
            channel = WeComDigests(robots, WeComGroupPusher(robots, webhook))
            sleeps = MinuteSleeps()
            service = DigestService(
                suo.store,
                DigestWriter(suo.store, "https://suo.test", fonts),
                {"wecom": channel},
                clock,
                DigestConfig(),
                owner="process-a",
                sleep=sleeps,
            )
            clock.now = FIRE + timedelta(minutes=1)
            assert await service.run_due(clock()) == {seeded.group.id: RunOutcome.SENT}
        sent = [m["msgtype"] for m in fake.webhook_messages(key)]
        assert sent == ["markdown", "image"]
        refused = [c for c in fake.webhook_calls if c.errcode]
        assert len(refused) == 1 and refused[0].body["msgtype"] == "image"
        assert sleeps.waits  # it backed off before trying the image again


# -- the digest command --------------------------------------------------------------------------


def admin(text: str, chat: str = "readers") -> IncomingMessage:
    return replace(group_message(text, chat=chat), is_admin=True)


async def ask(suo: Suo, message: IncomingMessage) -> Reply:
    (reply,) = await suo.core.handle(message)
    return reply


async def test_digest_command_shows_and_admins_change_the_schedule(
    suo: Suo, clock: FakeClock
) -> None:
    await suo.core.handle(group_message("hi", chat="readers"))
    shown = await ask(suo, group_message("/digest", chat="readers"))
    assert "周报：开。每周一 09:00（Asia/Shanghai）" in shown.text
    assert "下一期 11月30日（周一）09:00" in shown.text  # FIXED_NOW is Monday 17:30 there
    assert "digest on|off" in shown.text

    refused = await ask(suo, group_message("/digest off", chat="readers"))
    assert "管理员" in refused.text

    changed = await ask(suo, admin("/周报 星期五 18:30"))
    assert "每周五 18:30" in changed.text
    (group,) = await suo.store.find_groups("readers")
    assert (group.settings.digest_weekday, group.settings.digest_time) == (4, "18:30")

    moved = await ask(suo, admin("/digest tz Europe/Berlin"))
    assert "Europe/Berlin" in moved.text
    (group,) = await suo.store.find_groups("readers")
    assert group.tz == "Europe/Berlin"
    bad = await ask(suo, admin("/digest tz Mars/Olympus"))
    assert "Mars/Olympus" in bad.text and "IANA" in bad.text
    wrong = await ask(suo, admin("/digest someday 25:00"))
    assert "没看懂" in wrong.text

    off = await ask(suo, admin("/digest off"))
    assert "周报：关" in off.text
    (group,) = await suo.store.find_groups("readers")
    assert group.settings.digest_enabled is False


async def test_digest_now_previews_the_week_so_far_with_its_chart(
    suo: Suo, clock: FakeClock, fonts: ChartFonts
) -> None:
    seeded = await seed_week(suo.store, chat="readers")
    clock.now = at(20, 15)  # Friday afternoon: Monday to Friday so far
    reply = await ask(suo, admin("/digest now"))
    # The chat's title as the member's message carried it.
    assert reply.text.splitlines()[0] == "📊 Group readers 本周至今（预览）· 11月16日–11月20日"
    assert "真人打开 11 次" in reply.text  # 3 + 0 + 5 + 2 + 1
    assert "较上周同期" in reply.text
    (image,) = reply.images
    assert Image.open(io.BytesIO(image.png)).format == "PNG"
    key = DigestSchedule.of(seeded.group).week_before(FIRE).start
    assert await suo.store.digest_status(seeded.group.id, key) is None  # a preview, not a run
    members = await ask(suo, group_message("/digest now", chat="readers"))
    assert "管理员" in members.text


# -- config --------------------------------------------------------------------------------------


def test_digest_config_defaults_and_checks(tmp_path: Path) -> None:
    assert parse_config({}, {}).digest == DigestConfig()
    font = tmp_path / "font.ttf"
    font.write_bytes(b"not really a font")
    parsed = parse_config(
        {"digest": {"grace_hours": 6, "font_path": str(font), "retry_attempts": 2}}, {}
    ).digest
    assert (parsed.grace_hours, parsed.font_path, parsed.retry_attempts) == (6, str(font), 2)
    for bad, key in (
        ({"grace_hours": 0}, "digest.grace_hours"),
        ({"enabled": "yes"}, "digest.enabled"),
        ({"font_path": str(tmp_path / "missing.ttf")}, "digest.font_path"),
        ({"lease_minutes": 1, "retry_backoff_seconds": 60}, "digest.lease_minutes"),
    ):
        with pytest.raises(ConfigError, match=key):
            parse_config({"digest": bad}, {})


def test_config_example_digest_section_parses() -> None:
    import tomllib

    data = tomllib.loads((REPO / "config.example.toml").read_text())
    assert parse_config(data, {}).digest == DigestConfig()

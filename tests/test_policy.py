"""Who may open a link, as readers and admins meet it: rules set in chat, answered by the
real redirector over HTTP on 127.0.0.1 (302, guide page, platform page, 410)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Config
from bot.model import ClickClass, IncomingMessage, Reply
from bot.policy import IN_APP, LinkPolicy, Outcome, decide, parse_platforms
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, FakeClock, group_message, serving
from tests.test_classify import UAS

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

SHORT = re.compile(r"https://suo\.test/([A-Za-z0-9]{7})")
# One real User-Agent per platform, from the classification table.
UA: dict[str, str] = {}
for _ua, _klass, _platform in UAS:
    if _klass is ClickClass.HUMAN:
        UA.setdefault(_platform, _ua)
PREVIEW_UA = next(ua for ua, klass, _ in UAS if klass is ClickClass.PREVIEW)
IOS_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def admin(text: str, **kw: object) -> IncomingMessage:
    return replace(group_message(text, user="boss", **kw), is_admin=True)  # type: ignore[arg-type]


def member(text: str, **kw: object) -> IncomingMessage:
    return group_message(text, user="alice", **kw)  # type: ignore[arg-type]


async def say(suo: Suo, message: IncomingMessage) -> str:
    replies: list[Reply] = await suo.core.handle(message)
    return "\n".join(r.text for r in replies)


async def shorten(suo: Suo, message: IncomingMessage) -> str:
    text = await say(suo, message)
    found = SHORT.findall(text)
    assert found, text
    return str(found[0])


@pytest.fixture
async def client(suo: Suo) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(suo.redirector_app(), host="127.0.0.1", port=0)) as c:
        yield c


async def open_as(
    client: TestClient[object, object], code: str, ua: str, method: str = "GET", lang: str = ""
) -> tuple[int, str, str]:
    headers = {"User-Agent": ua}
    if lang:
        headers["Accept-Language"] = lang
    resp = await client.request(method, f"/{code}", headers=headers, allow_redirects=False)
    return resp.status, resp.headers.get("Location", ""), await resp.text()


# --- the pure decision -----------------------------------------------------------------------


def test_decide_covers_every_rule_in_order() -> None:
    h, p = ClickClass.HUMAN, ClickClass.PREVIEW
    anti = LinkPolicy(anti_red=IN_APP)
    assert decide(LinkPolicy(), h, "wechat", 0, 0) is Outcome.REDIRECT
    assert decide(anti, h, "wechat", 0, 0) is Outcome.GUIDE
    assert decide(anti, p, "preview", 0, 0) is Outcome.REDIRECT  # a fetcher is no reader
    assert decide(anti, h, "ios", 0, 0) is Outcome.REDIRECT
    only = LinkPolicy(platforms=frozenset({"wechat"}))
    assert decide(only, h, "android", 0, 0) is Outcome.PLATFORM
    assert decide(LinkPolicy(expires_at=10), h, "ios", 10, 0) is Outcome.EXPIRED
    assert decide(LinkPolicy(max_clicks=2), h, "ios", 0, 2) is Outcome.EXHAUSTED
    assert decide(LinkPolicy(max_clicks=2), p, "preview", 0, 1) is Outcome.REDIRECT
    assert decide(LinkPolicy(disabled=True, expires_at=1), h, "ios", 5, 0) is Outcome.REMOVED


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("wechat,qq,mobile", {"wechat", "qq", "ios", "android"}),
        ("微信、QQ、手机", {"wechat", "qq", "ios", "android"}),
        ("企业微信 钉钉", {"wecom", "dingtalk"}),
        ("browser", {"ios", "android", "desktop"}),
        ("apps", set(IN_APP)),
    ],
)
def test_platform_names_in_english_and_chinese(typed: str, expected: set[str]) -> None:
    assert parse_platforms(typed) == expected


# --- through chat and the redirector ---------------------------------------------------------


async def test_allowed_platforms_open_others_get_a_page_naming_where_it_opens(
    suo: Suo, client: TestClient[object, object]
) -> None:
    code = await shorten(suo, admin("/short https://example.com/a platforms=wechat,qq"))
    for platform in ("wechat", "qq"):
        status, location, _ = await open_as(client, code, UA[platform])
        assert (status, location) == (302, "https://example.com/a"), platform
    for platform in ("android", "ios", "desktop", "wecom", "telegram"):
        status, location, body = await open_as(client, code, UA[platform])
        assert status == 403 and location == "", platform
        assert "微信" in body and "QQ" in body
    status, _, body = await open_as(client, code, UA["desktop"], lang="en-US,en;q=0.9")
    assert status == 403 and "WeChat" in body


@pytest.mark.parametrize("platform", sorted(UA))
async def test_anti_red_guides_chat_app_readers_and_redirects_the_rest(
    suo: Suo, client: TestClient[object, object], platform: str
) -> None:
    assert "防红" in await say(suo, admin("/settings 防红 开"))
    code = await shorten(suo, member("看这个 https://example.com/event?id=7"))
    status, location, body = await open_as(client, code, UA[platform])
    if platform in IN_APP:
        # The guide names the real destination: the same target every reader gets.
        assert (status, location) == (200, "")
        assert "https://example.com/event?id=7" in body and f"https://suo.test/{code}" in body
    else:
        assert (status, location) == (302, "https://example.com/event?id=7")


async def test_guide_steps_follow_the_phone(suo: Suo, client: TestClient[object, object]) -> None:
    await say(suo, admin("/settings antired wechat"))
    code = await shorten(suo, member("https://example.com/os"))
    _, _, ios_page = await open_as(client, code, UA["wechat"])
    android_ua = next(ua for ua, _, p in UAS if p == "wechat" and "Android" in ua)
    _, _, android_page = await open_as(client, code, android_ua)
    assert "Safari" in ios_page and "Safari" not in android_page
    status, _, _ = await open_as(client, code, UA["qq"])
    assert status == 302  # only WeChat was chosen


async def test_expired_link_answers_410(
    suo: Suo, clock: FakeClock, client: TestClient[object, object]
) -> None:
    code = await shorten(suo, admin("/short https://example.com/soon expires=1h"))
    assert (await open_as(client, code, IOS_SAFARI))[0] == 302
    clock.now += timedelta(hours=2)
    status, location, body = await open_as(client, code, IOS_SAFARI)
    assert (status, location) == (410, "") and "过期" in body


async def test_group_expiry_applies_to_new_links(
    suo: Suo, clock: FakeClock, client: TestClient[object, object]
) -> None:
    assert "7 天" in await say(suo, admin("/settings 有效期 7天"))
    code = await shorten(suo, member("https://example.com/week"))
    clock.now += timedelta(days=6)
    assert (await open_as(client, code, IOS_SAFARI))[0] == 302
    clock.now += timedelta(days=2)
    assert (await open_as(client, code, IOS_SAFARI))[0] == 410


async def test_reposting_an_expired_link_renews_it_and_a_removed_one_is_refused(
    suo: Suo, clock: FakeClock, client: TestClient[object, object]
) -> None:
    await say(suo, admin("/settings expiry 1d"))
    code = await shorten(suo, member("https://example.com/weekly"))
    clock.now += timedelta(days=2)
    assert (await open_as(client, code, IOS_SAFARI))[0] == 410
    assert await shorten(suo, member("https://example.com/weekly")) == code  # clicks add up
    assert (await open_as(client, code, IOS_SAFARI))[0] == 302
    await say(suo, admin(f"/delete {code}"))
    text = await say(suo, member("https://example.com/weekly"))
    assert "删除" in text and not SHORT.search(text)
    assert (await open_as(client, code, IOS_SAFARI))[0] == 410


async def test_previews_and_head_never_use_up_max_clicks(
    suo: Suo, client: TestClient[object, object], config: Config
) -> None:
    code = await shorten(suo, admin("/short https://example.com/limited max=3"))
    for _ in range(5):
        assert (await open_as(client, code, PREVIEW_UA))[0] == 302
        assert (await open_as(client, code, IOS_SAFARI, method="HEAD"))[0] == 302
    for _ in range(3):  # the last of these is the last human open allowed
        assert (await open_as(client, code, IOS_SAFARI))[:2] == (
            302,
            "https://example.com/limited",
        )
    status, location, body = await open_as(client, code, IOS_SAFARI)
    assert (status, location) == (410, "") and "次数" in body
    assert (await open_as(client, code, PREVIEW_UA))[0] == 410  # closed for everyone after
    await suo.recorder.flush()
    group = (await suo.store.find_groups("g1"))[0]
    stats = await suo.store.group_stats(group.id)
    assert (stats.human_clicks, stats.preview_clicks) == (3, 5)


async def test_delete_takes_effect_at_once_even_on_the_fast_path(suo: Suo) -> None:
    async with serving(suo.redirector_app()) as base, aiohttp.ClientSession() as http:
        code = await shorten(suo, member("https://example.com/bad"))
        url = f"{base}/{code}"
        for _ in range(2):  # the second is answered from the cache, before routing
            resp = await http.get(url, allow_redirects=False)
            assert resp.status == 302
        refused = await say(suo, member(f"/delete {code}"))
        assert "管理员" in refused
        assert code in await say(suo, admin(f"/delete https://suo.test/{code}"))
        resp = await http.get(url, allow_redirects=False)
        assert resp.status == 410 and "删除" in await resp.text()


async def test_info_page_shows_destination_group_sharer_and_human_clicks(
    suo: Suo, client: TestClient[object, object]
) -> None:
    code = await shorten(suo, member("https://example.com/<info>"))
    for ua in (IOS_SAFARI, UA["android"], PREVIEW_UA):
        await open_as(client, code, ua)
    await suo.recorder.flush()
    resp = await client.get(f"/{code}+")
    body = await resp.text()
    assert resp.status == 200
    assert "example.com" in body and "Group g1" in body and "Alice" in body
    assert re.search(r"\b2\b", body)  # two people, the preview not counted
    assert (await client.get("/Nope123+")).status == 404


async def test_a_removed_links_info_page_no_longer_links_to_its_target(
    suo: Suo, client: TestClient[object, object]
) -> None:
    code = await shorten(suo, member("https://example.com/phish"))
    assert 'href="https://example.com/phish"' in await (await client.get(f"/{code}+")).text()
    await say(suo, admin(f"/delete {code}"))
    body = await (await client.get(f"/{code}+")).text()
    assert "https://example.com/phish" in body and 'href="https://example.com/phish"' not in body


# --- admin rights, limits and admission in chat ----------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "/settings 平台 微信",
        "/settings antired on",
        "/settings expiry 7d",
        "/block example.org",
        "/unblock example.org",
        "/delete abcdefg",
    ],
)
async def test_admin_only_settings_are_refused_for_members(suo: Suo, command: str) -> None:
    before = (await suo.store.find_groups("g1") or [None])[0]
    text = await say(suo, member(command))
    assert "只有群管理员" in text
    after = (await suo.store.find_groups("g1"))[0]
    assert before is None or before.settings == after.settings


async def test_members_may_read_settings_but_not_set_link_rules(suo: Suo) -> None:
    assert "本群规则" in await say(suo, member("/settings"))
    text = await say(suo, member("/short https://example.com/x max=5"))
    assert "管理员" in text and not SHORT.search(text)


async def test_creation_rate_limit_is_answered_clearly(config: Config, clock: FakeClock) -> None:
    limited = replace(config, links=replace(config.links, member_limit=2, group_limit=3))
    suo = await Suo.open(limited, clock=clock)
    try:
        for n in range(2):
            await shorten(suo, member(f"https://example.com/{n}"))
        text = await say(suo, member("https://example.com/2"))
        assert not SHORT.search(text)
        assert re.search(r"\d+ ?秒", text), text
        # A link the group already has is free; another member still has room...
        await shorten(suo, member("https://example.com/0"))
        await shorten(suo, group_message("https://example.com/b1", user="bob"))
        # ...until the group's own limit.
        text = await say(suo, group_message("https://example.com/b2", user="bob"))
        assert not SHORT.search(text) and "本群" in text
        clock.now += timedelta(seconds=limited.links.limit_window_seconds + 1)
        await shorten(suo, member("https://example.com/later"))
    finally:
        await suo.shutdown()


async def test_group_block_list_refuses_domain_and_subdomains(suo: Suo) -> None:
    assert "example.org" in await say(suo, admin("/block https://example.org/page"))
    text = await say(suo, member("https://news.example.org/today"))
    assert "不允许" in text and not SHORT.search(text)
    await say(suo, admin("/unblock example.org"))
    await shorten(suo, member("https://news.example.org/today"))


async def test_auto_shorten_off_leaves_posted_links_alone(suo: Suo) -> None:
    await say(suo, admin("/settings auto off"))
    assert await say(suo, member("https://example.com/quiet")) == ""
    await shorten(suo, member("/short https://example.com/quiet"))


async def test_language_switch_changes_replies(suo: Suo) -> None:
    text = await say(suo, admin("/settings lang en"))
    assert "This group's rules" in text
    assert "Only group admins" in await say(suo, member("/settings antired on"))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/admin",
        "http://192.168.1.1/",
        "http://[::1]/",
        "http://localhost/",
        "http://192.168.1.\u00ad1/admin",  # browsers ignore the soft hyphen
    ],
)
async def test_ip_literal_and_private_targets_are_refused(suo: Suo, url: str) -> None:
    text = await say(suo, member(f"/short {url}"))
    assert not SHORT.search(text) and text


async def test_a_url_no_redirect_could_carry_is_refused_when_shared(suo: Suo) -> None:
    """A platform entity can hand over the whole string; it must fail here, not as a 503 on
    every click later."""
    from bot.errors import UserError

    group = await suo.store.upsert_group("console", "g1", "g1")
    with pytest.raises(UserError) as refused:
        await suo.shortener.shorten_in_group(group, None, "https://example.com\\@example.org/x")
    assert refused.value.code == "url_invalid"
    assert await suo.store.link_for_url(group.id, "https://example.com\\@example.org/x") is None


async def test_risky_but_allowed_links_carry_a_label(suo: Suo) -> None:
    text = await say(suo, member("https://bit.ly/3abcd https://xn--80ak6aa92e.com/"))
    assert len(SHORT.findall(text)) == 2
    assert text.count("⚠️") >= 2


@pytest.mark.parametrize("host", ["аррӏе.com", "xn--80ak6aa92e.com"])
async def test_a_look_alike_domain_is_labelled_in_either_spelling(suo: Suo, host: str) -> None:
    text = await say(suo, member(f"/short https://{host}/login"))
    assert SHORT.search(text)
    assert "⚠️" in text and "可能仿冒" in text


async def test_a_chinese_domain_is_not_labelled_in_either_spelling(suo: Suo) -> None:
    for host in ("例子.测试", "xn--fsqu00a.xn--0zwm56d"):
        text = await say(suo, member(f"/short https://{host}/活动"))
        assert SHORT.search(text) and "⚠️" not in text, text


async def test_decoded_qr_links_carry_risk_labels_and_internal_ones_are_refused(
    suo: Suo,
) -> None:
    from bot.qr import render_qr_png
    from tests.conftest import image_of

    shortener = member("", images=(image_of(render_qr_png("https://t.cn/A6xyzAB"), "a.png"),))
    text = await say(suo, shortener)
    assert SHORT.search(text) and "⚠️" in text and "短链接跳转" in text
    internal = member("", images=(image_of(render_qr_png("http://192.168.0.1/login"), "b.png"),))
    text = await say(suo, internal)
    assert "192.168.0.1" in text and not SHORT.search(text)


async def test_times_are_the_groups_own_and_always_labelled(suo: Suo) -> None:
    """One zone per group (its digest zone, Asia/Shanghai by default), named wherever a time
    is shown: expiry replies, the dashboard link, the info page."""
    reply = await say(suo, admin("/short https://example.com/week expires=7d"))
    assert "2026-11-30 17:30 (Asia/Shanghai) 过期" in reply  # FIXED_NOW + 7 days, in Shanghai
    dashboard = await say(suo, member("/dashboard"))
    assert "(Asia/Shanghai)" in dashboard
    await say(suo, admin("/digest tz Europe/Berlin"))
    again = await say(suo, admin("/short https://example.com/week expires=7d"))
    assert "2026-11-30 10:30 (Europe/Berlin) 过期" in again
    code = SHORT.findall(again)[0]
    async with TestClient(TestServer(suo.redirector_app(), host="127.0.0.1", port=0)) as c:
        info = await (await c.get(f"/{code}+")).text()
    assert "2026-11-23\u00a010:30\u00a0(Europe/Berlin)" in info  # created at FIXED_NOW, Berlin

"""The core as a group member sees it: post a link, get a short link and a QR back."""

from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image

from bot.config import Config
from bot.model import Reply
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, REPO, FakeClock, group_message, image_of

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

SHORT = re.compile(r"https://suo\.test/([A-Za-z0-9]{7})")


def codes_in(reply: Reply) -> list[str]:
    return SHORT.findall(reply.text)


def decode_png(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def test_posted_link_gets_short_link_and_qr_that_decodes_to_it(suo: Suo) -> None:
    (reply,) = await suo.core.handle(
        group_message("活动报名 https://example.com/signup?id=42，速来")
    )
    (code,) = codes_in(reply)
    assert "https://example.com/signup?id=42" in reply.text
    (image,) = reply.images
    assert decode_png(image.png) == [f"https://suo.test/{code}"]
    link = await suo.store.get_link(code)
    assert link is not None and link.url == "https://example.com/signup?id=42"


async def test_same_link_same_group_reuses_code_other_group_gets_its_own(suo: Suo) -> None:
    (first,) = await suo.core.handle(group_message("https://example.com/a", user="alice"))
    (again,) = await suo.core.handle(group_message("again: https://EXAMPLE.com/a", user="bob"))
    (other,) = await suo.core.handle(group_message("https://example.com/a", chat="g2"))
    assert codes_in(first) == codes_in(again)
    assert "已有" in again.text  # the member is told clicks add up
    assert codes_in(other) != codes_in(first)


async def test_several_links_in_one_message_get_one_reply(suo: Suo) -> None:
    (reply,) = await suo.core.handle(
        group_message("一 https://a.example/1 二 https://b.example/2 三 https://c.example/3")
    )
    assert len(set(codes_in(reply))) == 3
    assert len(reply.images) == 3


async def test_our_own_short_link_is_not_shortened_again(suo: Suo) -> None:
    (reply,) = await suo.core.handle(group_message("https://example.com/x"))
    (code,) = codes_in(reply)
    assert await suo.core.handle(group_message(f"转发 https://suo.test/{code}")) == []
    (answer,) = await suo.core.handle(group_message(f"/short https://suo.test/{code}"))
    assert "已经是短链接" in answer.text and not answer.images


@pytest.mark.parametrize(
    "spelling",
    [
        "https://suo.test:443/{code}",
        "http://suo.test/{code}",
        "HTTPS://SUO.TEST/{code}",
        "https://suo.test./{code}",
        "https://suo.test//{code}",
        "https://suo.test/{code}+",
        "https://suo.test/{code}.png",
    ],
)
async def test_our_own_short_link_is_recognised_however_it_is_spelled(
    suo: Suo, spelling: str
) -> None:
    (reply,) = await suo.core.handle(group_message("https://example.com/x"))
    (code,) = codes_in(reply)
    (answer,) = await suo.core.handle(group_message("/short " + spelling.format(code=code)))
    assert "已经是短链接" in answer.text and not answer.images
    assert await suo.store.link_for_url(1, spelling.format(code=code)) is None


async def test_another_port_or_host_is_not_our_short_link(suo: Suo) -> None:
    for other in ("https://suo.test:8443/AbCdEfG", "https://evil.suo.test.example/AbCdEfG"):
        (answer,) = await suo.core.handle(group_message("/short " + other))
        assert codes_in(answer), other


async def test_short_command_refuses_bad_urls_clearly(suo: Suo) -> None:
    (js,) = await suo.core.handle(group_message("/short javascript:alert(1)"))
    assert "http://" in js.text and not js.images
    (long,) = await suo.core.handle(group_message("/short https://example.com/" + "a" * 5000))
    assert "太长" in long.text and not long.images
    (usage,) = await suo.core.handle(group_message("/short"))
    assert "/short" in usage.text
    (bare,) = await suo.core.handle(group_message("/short example.org/page"))
    assert codes_in(bare) and "https://example.org/page" in bare.text


async def test_blocked_domain_gets_polite_refusal(config: Config, clock: FakeClock) -> None:
    from dataclasses import replace

    blocked = replace(config, links=replace(config.links, blocked_domains=("bad.example",)))
    suo = await Suo.open(blocked, clock=clock)
    try:
        (reply,) = await suo.core.handle(group_message("看 https://www.bad.example/x"))
    finally:
        await suo.shutdown()
    assert "bad.example" in reply.text and not reply.images


async def test_unknown_command_and_help(suo: Suo) -> None:
    (unknown,) = await suo.core.handle(group_message("/frobnicate now"))
    assert "/frobnicate" in unknown.text and "/help" in unknown.text
    (help_reply,) = await suo.core.handle(group_message("/help"))
    assert "/short" in help_reply.text
    assert await suo.core.handle(group_message("/help@someone_elses_bot")) == []


async def test_plain_chatter_gets_no_reply(suo: Suo) -> None:
    assert await suo.core.handle(group_message("大家早上好")) == []


async def test_qr_command_makes_a_qr_of_text(suo: Suo) -> None:
    (reply,) = await suo.core.handle(group_message("/qr 周六十点 西湖边集合"))
    (image,) = reply.images
    assert decode_png(image.png) == ["周六十点 西湖边集合"]


async def test_qr_photo_is_decoded_and_its_url_shortened(suo: Suo) -> None:
    from bot.qr import render_qr_png

    photo = render_qr_png("https://example.com/from-a-poster")
    (reply,) = await suo.core.handle(group_message(images=(image_of(photo),)))
    assert "https://example.com/from-a-poster" in reply.text
    (code,) = codes_in(reply)
    (image,) = reply.images
    assert decode_png(image.png) == [f"https://suo.test/{code}"]


async def test_bad_images_get_clear_errors_and_the_bot_keeps_answering(suo: Suo) -> None:
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000), 1).save(buf, "PNG")  # 100 megapixels, tiny file
    cases = {
        "broken.jpg": (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "无法读取"),
        "notes.txt": ("这不是图片\n".encode() * 50, "无法读取"),
        "huge.png": (buf.getvalue(), "分辨率太高"),
        "plain.png": (render_png_without_qr(), "没有找到二维码"),
    }
    for name, (data, expected) in cases.items():
        (reply,) = await suo.core.handle(group_message(images=(image_of(data, name),)))
        assert expected in reply.text, name
        assert not reply.images
    too_big = image_of(b"", "big.jpg", size=30 * 1024 * 1024)
    (reply,) = await suo.core.handle(group_message(images=(too_big,)))
    assert "太大" in reply.text
    (still,) = await suo.core.handle(group_message("https://example.com/still-alive"))
    assert codes_in(still)


def render_png_without_qr() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (200, 120), (240, 200, 10)).save(buf, "PNG")
    return buf.getvalue()


async def test_english_group_gets_english_replies(config: Config, clock: FakeClock) -> None:
    from dataclasses import replace

    english = replace(config, console=replace(config.console, lang="en"))
    suo = await Suo.open(english, clock=clock)
    try:
        (reply,) = await suo.core.handle(group_message("/short javascript:alert(1)"))
    finally:
        await suo.shutdown()
    assert reply.text == "Only http:// and https:// links can be shortened."


async def test_real_photo_of_a_bookmark_qr_gets_its_url_shortened(suo: Suo) -> None:
    photo = REPO.parent / "shared" / "qr-photos" / "zxing-qrcode-1" / "1.png"
    if not photo.exists():
        pytest.skip(f"shared QR photos not present at {photo.parent}")
    (reply,) = await suo.core.handle(group_message(images=(image_of(photo.read_bytes()),)))
    assert "[书签]" in reply.text
    (code,) = codes_in(reply)
    link = await suo.store.get_link(code)
    assert link is not None and link.url == "http://en.wikipedia.org/wiki/Main_Page"


async def test_bind_is_only_for_wecom_groups(suo: Suo) -> None:
    (reply,) = await suo.core.handle(group_message("/bind 693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"))
    assert "企业微信" in reply.text


async def test_chinese_path_and_query_are_shortened_whole(suo: Suo) -> None:
    (reply,) = await suo.core.handle(
        group_message("看这个 https://zh.wikipedia.org/wiki/上海 不错")
    )
    (code,) = codes_in(reply)
    link = await suo.store.get_link(code)
    assert link is not None and link.url == "https://zh.wikipedia.org/wiki/上海"
    (short,) = await suo.core.handle(group_message("/short https://example.org/活动?x=1"))
    (code,) = codes_in(short)
    link = await suo.store.get_link(code)
    assert link is not None and link.url == "https://example.org/活动?x=1"
    assert "你发的是" not in reply.text + short.text  # shortened exactly as written


async def test_short_takes_the_argument_whole_and_says_what_it_changed(suo: Suo) -> None:
    (glued,) = await suo.core.handle(group_message("/short https://example.com/a，b"))
    (code,) = codes_in(glued)
    link = await suo.store.get_link(code)
    assert link is not None and link.url == "https://example.com/a，b"
    (dotted,) = await suo.core.handle(group_message("/short https://example.com/doc。"))
    assert "你发的是「https://example.com/doc。」" in dotted.text
    (code,) = codes_in(dotted)
    link = await suo.store.get_link(code)
    assert link is not None and link.url == "https://example.com/doc"
    (bare,) = await suo.core.handle(group_message("/short example.org/page"))
    assert "你发的是「example.org/page" in bare.text
    (bad,) = await suo.core.handle(group_message("/short https://-example.com/x"))
    assert "不是一个有效的网址" in bad.text and not bad.images


async def test_telegram_entity_cleaned_of_glued_text_is_named_in_the_reply(suo: Suo) -> None:
    from dataclasses import replace

    from bot.urls import Entity, find_urls

    text = "看这个example.com/a?b=1，很好"
    entity = Entity("url", 0, len(text.encode("utf-16-le")) // 2)  # as tdlib marks it
    message = replace(group_message(text, platform="telegram"), urls=find_urls(text, [entity]))
    (reply,) = await suo.core.handle(message)
    (code,) = codes_in(reply)
    link = await suo.store.get_link(code)
    assert link is not None and link.url == "https://example.com/a?b=1"
    assert f"你发的是「{text}」" in reply.text


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("登录 https://admin:123456@example.com/后台，别外传", "example.com"),
        ("https://google.com@evil.example/login", "evil.example"),
        ("https://user@example.com", "example.com"),
    ],
)
async def test_links_with_credentials_are_refused_in_chat(suo: Suo, text: str, host: str) -> None:
    (posted,) = await suo.core.handle(group_message(text))
    (command,) = await suo.core.handle(group_message("/short " + text.split()[-1]))
    for reply in (posted, command):
        assert "用户名或密码" in reply.text and f"实际打开的是 {host}" in reply.text
        assert not reply.images and not codes_in(reply)
    assert "123456" not in posted.text  # the refusal doesn't repeat the password


async def test_credentials_refusal_in_english(config: Config, clock: FakeClock) -> None:
    from dataclasses import replace

    english = replace(config, console=replace(config.console, lang="en"))
    suo = await Suo.open(english, clock=clock)
    try:
        (reply,) = await suo.core.handle(group_message("https://user:pw@example.com/x"))
    finally:
        await suo.shutdown()
    assert "user name or password" in reply.text and "example.com" in reply.text


async def test_link_text_hiding_a_url_gets_no_note(suo: Suo) -> None:
    from dataclasses import replace

    from bot.urls import Entity, find_urls

    text = "报名点这里"
    entity = Entity("text_link", 2, 3, url="https://example.com/signup")
    message = replace(group_message(text, platform="telegram"), urls=find_urls(text, [entity]))
    (reply,) = await suo.core.handle(message)
    assert codes_in(reply) and "https://example.com/signup" in reply.text
    assert "你发的是" not in reply.text

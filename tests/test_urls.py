"""Finding links in chat text the way members write them, and refusing what we can't shorten."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.urls import Entity, find_urls, location_header, normalize_url


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("看这个https://example.com/a?b=1，很好", ["https://example.com/a?b=1"]),
        ("链接：https://example.com。", ["https://example.com"]),
        ("go https://example.com看看", ["https://example.com"]),
        (
            "(see https://en.wikipedia.org/wiki/Foo_(bar))",
            ["https://en.wikipedia.org/wiki/Foo_(bar)"],
        ),
        ("Read https://example.com/post.", ["https://example.com/post"]),
        (
            "两个链接 https://a.example/x 和 http://b.example:8080/y?z=1!",
            ["https://a.example/x", "http://b.example:8080/y?z=1"],
        ),
        ("「https://example.jp/ページ」", ["https://example.jp/"]),
        ("https://例子.测试 是中文域名", ["https://例子.测试"]),
        ("no links here, just example dot com", []),
        ("javascript:alert(1)", []),
    ],
)
def test_regex_finds_urls_in_chinese_and_english_text(text: str, expected: list[str]) -> None:
    assert [f.url for f in find_urls(text)] == expected


def test_regex_positions_point_at_the_url() -> None:
    text = "看这个https://example.com/a，很好"
    (found,) = find_urls(text)
    assert text[found.start : found.end] == found.url


def test_entities_use_utf16_offsets_after_emoji_and_cjk() -> None:
    prefix = "🎉🎉 新活动 👉 "
    url = "https://example.com/活动"
    text = prefix + url + " 快来"
    entity = Entity("url", offset=utf16_len(prefix), length=utf16_len(url))
    (found,) = find_urls(text, [entity])
    assert found.url == url
    assert text[found.start : found.end] == url


def test_text_link_entity_yields_the_hidden_url() -> None:
    text = "😀 点这里 报名"
    entity = Entity(
        "text_link",
        offset=utf16_len("😀 "),
        length=utf16_len("点这里"),
        url="https://example.com/signup",
    )
    (found,) = find_urls(text, [entity])
    assert found.url == "https://example.com/signup"
    assert text[found.start : found.end] == "点这里"


def test_bare_domain_entity_gets_a_scheme() -> None:
    (found,) = find_urls("see example.com", [Entity("url", 4, 11)])
    assert found.url == "http://example.com"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("javascript:alert(1)", "url_scheme"),
        ("ftp://example.com/file", "url_scheme"),
        ("data:text/html,hi", "url_scheme"),
        ("https://", "url_invalid"),
        ("https://exa mple.com", "url_invalid"),
        ("https://[::1", "url_invalid"),
        ("https://example.com/" + "a" * 5000, "url_too_long"),
    ],
)
def test_refused_urls_say_why(raw: str, code: str) -> None:
    with pytest.raises(UserError) as info:
        normalize_url(raw, max_length=2048)
    assert info.value.code == code


def test_normalize_lowercases_scheme_and_host_and_keeps_idn_readable() -> None:
    assert normalize_url("HTTPS://Example.COM/Path?Q=1#Frag", max_length=2048) == (
        "https://example.com/Path?Q=1#Frag"
    )
    assert normalize_url("https://例子.测试/路径", max_length=2048) == "https://例子.测试/路径"


def test_location_header_is_ascii() -> None:
    location = location_header("https://例子.测试/路径?q=中")
    assert location == "https://xn--fsqu00a.xn--0zwm56d/%E8%B7%AF%E5%BE%84?q=%E4%B8%AD"
    location.encode("ascii")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # tdlib counts Chinese text and full-width punctuation as part of a link entity.
        ("https://suo.run/abc，很好", "https://suo.run/abc"),
        ("看这个example.com/a?b=1。", "http://example.com/a?b=1"),
        ("example.com", "http://example.com"),
    ],
)
def test_url_entities_glued_to_chinese_text_are_trimmed(text: str, expected: str) -> None:
    (found,) = find_urls(text, [Entity("url", 0, utf16_len(text))])
    assert found.url == expected

"""Finding links in chat text the way members write them, and refusing what we can't shorten.

The table is what a member sees: the links found in a message, in many scripts and habits.
"""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.urls import Entity, find_urls, link_in_argument, location_header, normalize_url


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# (message text, the http(s) links a member means, in order). Written from what a reader of
# the message would click, not from the code's output.
TEXTS = [
    # --- Chinese: the issue's own examples, then chat as members write it ---
    ("看这个 https://zh.wikipedia.org/wiki/上海 不错", ["https://zh.wikipedia.org/wiki/上海"]),
    ("https://example.org/活动?x=1", ["https://example.org/活动?x=1"]),
    ("活动报名 https://example.com/signup?id=42，速来", ["https://example.com/signup?id=42"]),
    ("看这个https://example.com/a?b=1，很好", ["https://example.com/a?b=1"]),
    ("链接：https://example.com。", ["https://example.com"]),
    ("go https://example.com看看", ["https://example.com"]),
    ("https://例子.测试 是中文域名", ["https://例子.测试"]),
    ("报名地址https://example.com/报名表。", ["https://example.com/报名表"]),
    ("请点击 https://example.com/路径/子路径 查看", ["https://example.com/路径/子路径"]),
    ("https://zh.wikipedia.org/wiki/马丁·路德·金", ["https://zh.wikipedia.org/wiki/马丁·路德·金"]),
    (
        "推荐https://zh.wikipedia.org/wiki/苹果_(消歧义)！",
        ["https://zh.wikipedia.org/wiki/苹果_(消歧义)"],
    ),
    ("https://example.com/a——这是破折号", ["https://example.com/a"]),
    (
        "https://example.com/a、https://example.com/b",
        ["https://example.com/a", "https://example.com/b"],
    ),
    ("网址是https://example.com/x；密码另发", ["https://example.com/x"]),
    ("问：https://example.com/q？", ["https://example.com/q"]),
    ("（详见https://example.com/doc）", ["https://example.com/doc"]),
    ("《指南》https://example.com/guide《附录》", ["https://example.com/guide"]),
    ("【通知】https://example.com/notice【完】", ["https://example.com/notice"]),
    ("他说“https://example.com/quote”很好", ["https://example.com/quote"]),
    ("打开http://localhost:8080看看", ["http://localhost:8080"]),
    ("http://example.com:8080/管理后台", ["http://example.com:8080/管理后台"]),
    ("下载：https://example.com/file.zip…", ["https://example.com/file.zip"]),
    ("大家早上好", []),
    ("example dot com 不是链接", []),
    ("https://example.com/search?q=上海 天气", ["https://example.com/search?q=上海"]),
    ("https://example.com/#/首页 单页应用", ["https://example.com/#/首页"]),
    ("https://example.com/a?城市=北京&日期=今天", ["https://example.com/a?城市=北京&日期=今天"]),
    (
        "两个链接 https://a.example/x 和 http://b.example:8080/y?z=1!",
        ["https://a.example/x", "http://b.example:8080/y?z=1"],
    ),
    (
        "淘宝https://item.taobao.com/item.htm?id=123，快抢",
        ["https://item.taobao.com/item.htm?id=123"],
    ),
    ("https://mp.weixin.qq.com/s/AbC-dEf_123。转发", ["https://mp.weixin.qq.com/s/AbC-dEf_123"]),
    ("https://b23.tv/abc123 点开看", ["https://b23.tv/abc123"]),
    (
        "网盘：https://pan.baidu.com/s/1abc?pwd=xy12 提取码xy12",
        ["https://pan.baidu.com/s/1abc?pwd=xy12"],
    ),
    ("http://中国.cn看看", ["http://中国.cn"]),
    (
        "https://example.com/a。https://example.com/b。",
        ["https://example.com/a", "https://example.com/b"],
    ),
    ("https://例子.测试/路径？", ["https://例子.测试/路径"]),
    ("https://example.com/价格：100元", ["https://example.com/价格"]),
    ("https://example.com/a〜b", ["https://example.com/a〜b"]),
    ("繁體：https://example.tw/網頁，謝謝", ["https://example.tw/網頁"]),
    ("https://example.hk/粵語」", ["https://example.hk/粵語"]),
    ("‘https://example.com/single’", ["https://example.com/single"]),
    # --- Japanese ---
    ("http://example.comだよね", ["http://example.com"]),
    ("「https://example.jp/ページ」", ["https://example.jp/ページ"]),
    ("『https://example.jp/本』を読んで", ["https://example.jp/本"]),
    ("詳しくはhttps://example.jp/詳細をご覧ください", ["https://example.jp/詳細をご覧ください"]),
    ("詳しくは https://example.jp/info 。", ["https://example.jp/info"]),
    (
        "https://ja.wikipedia.org/wiki/東京_(曖昧さ回避)",
        ["https://ja.wikipedia.org/wiki/東京_(曖昧さ回避)"],
    ),
    ("https://ja.wikipedia.org/wiki/東京都、大阪府", ["https://ja.wikipedia.org/wiki/東京都"]),
    ("サイトはhttps://example.jpです", ["https://example.jp"]),
    ("https://example.jp/カタカナ・ページ", ["https://example.jp/カタカナ・ページ"]),
    ("http://example.jp｡次へ", ["http://example.jp"]),
    ("｢https://example.jp/half｣", ["https://example.jp/half"]),
    ("https://例え.テスト/パス", ["https://例え.テスト/パス"]),
    ("https://example.jp/a？b", ["https://example.jp/a"]),
    ("日本語のみ、リンクなし", []),
    ("ＵＲＬ：https://example.jp/full", ["https://example.jp/full"]),
    # --- Korean (particles glue to words) ---
    ("https://example.kr에서 확인하세요", ["https://example.kr"]),
    ("자세한 내용은 https://example.kr/안내 를 보세요", ["https://example.kr/안내"]),
    (
        "https://ko.wikipedia.org/wiki/서울특별시 참고",
        ["https://ko.wikipedia.org/wiki/서울특별시"],
    ),
    ("링크: https://example.com/a, 감사합니다", ["https://example.com/a"]),
    ("http://example.com:3000에 접속", ["http://example.com:3000"]),
    ("https://예시.한국/경로", ["https://예시.한국/경로"]),
    ("(https://example.kr/괄호)", ["https://example.kr/괄호"]),
    ('"https://example.kr/따옴표"', ["https://example.kr/따옴표"]),
    ("https://example.kr/a. 다음 문장", ["https://example.kr/a"]),
    ("링크없음", []),
    ("https://example.kr/검색?q=김치&page=2 입니다", ["https://example.kr/검색?q=김치&page=2"]),
    ("https://example.kr/#소개", ["https://example.kr/#소개"]),
    # --- Russian and other Cyrillic ---
    ("https://ru.wikipedia.org/wiki/Москва, столица", ["https://ru.wikipedia.org/wiki/Москва"]),
    (
        "Смотри https://ru.wikipedia.org/wiki/Санкт-Петербург.",
        ["https://ru.wikipedia.org/wiki/Санкт-Петербург"],
    ),
    ("http://президент.рф", ["http://президент.рф"]),
    ("http://пример.рф/путь?ключ=значение", ["http://пример.рф/путь?ключ=значение"]),
    ("Ссылка (https://example.ru/страница) тут", ["https://example.ru/страница"]),
    ("«https://example.ru/ёлка»", ["https://example.ru/ёлка"]),
    ("https://example.ru/a — тире", ["https://example.ru/a"]),
    ("https://uk.wikipedia.org/wiki/Київ!", ["https://uk.wikipedia.org/wiki/Київ"]),
    ("https://example.bg/страница?", ["https://example.bg/страница"]),
    ("Нет ссылок здесь", []),
    ("https://example.ru/статья#раздел-2", ["https://example.ru/статья#раздел-2"]),
    ("https://example.ru/статья;", ["https://example.ru/статья"]),
    # --- Arabic, Persian, Hebrew (right-to-left text around left-to-right links) ---
    (
        "انظر https://ar.wikipedia.org/wiki/القاهرة من فضلك",
        ["https://ar.wikipedia.org/wiki/القاهرة"],
    ),
    ("الرابط: https://example.com/صفحة، شكرا", ["https://example.com/صفحة"]),
    ("هل رأيت https://example.com/سؤال؟", ["https://example.com/سؤال"]),
    ("http://مثال.إختبار/مسار", ["http://مثال.إختبار/مسار"]),
    ("https://fa.wikipedia.org/wiki/تهران؛ پایتخت", ["https://fa.wikipedia.org/wiki/تهران"]),
    ("ראה https://he.wikipedia.org/wiki/ירושלים עכשיו", ["https://he.wikipedia.org/wiki/ירושלים"]),
    ("קישור: https://example.co.il/דף.", ["https://example.co.il/דף"]),
    ("(https://example.co.il/סוגריים)", ["https://example.co.il/סוגריים"]),
    ("http://ﻡﻮﻘﻋ.ﻭﺯﺍﺭﺓ-ﺍﻼﺘﺻﺍﻼﺗ.ﻢﺻﺭ/", ["http://ﻡﻮﻘﻋ.ﻭﺯﺍﺭﺓ-ﺍﻼﺘﺻﺍﻼﺗ.ﻢﺻﺭ/"]),
    ("لا يوجد رابط", []),
    # --- Thai and Devanagari ---
    (
        "ดูที่ https://th.wikipedia.org/wiki/กรุงเทพมหานคร ครับ",
        ["https://th.wikipedia.org/wiki/กรุงเทพมหานคร"],
    ),
    ("https://example.co.th/หน้า?ค้นหา=ไทย", ["https://example.co.th/หน้า?ค้นหา=ไทย"]),
    ("देखें https://hi.wikipedia.org/wiki/भारत।", ["https://hi.wikipedia.org/wiki/भारत"]),
    ("http://उदाहरण.भारत/पथ", ["http://उदाहरण.भारत/पथ"]),
    ("https://example.in/पृष्ठ, धन्यवाद", ["https://example.in/पृष्ठ"]),
    ("ไม่มีลิงก์", []),
    # --- Emoji ---
    ("🎉🎉 新活动 👉 https://example.com/活动 快来", ["https://example.com/活动"]),
    ("👉https://example.com/a👈", ["https://example.com/a"]),
    ("👉https://example.com👈", ["https://example.com"]),
    ("https://example.com/a/😀 好笑", ["https://example.com/a/"]),
    ("https://example.com/😀/page", ["https://example.com/😀/page"]),
    ("🔥 https://example.com/hot 🔥", ["https://example.com/hot"]),
    ("https://example.com/a 😂😂", ["https://example.com/a"]),
    ("http://✪df.ws/123", ["http://✪df.ws/123"]),
    ("🙂 (https://example.com/x) 🙂", ["https://example.com/x"]),
    ("😀😀😀", []),
    ("Party 🎂: https://example.com/party!", ["https://example.com/party"]),
    ("https://i❤️.ws/love", ["https://i❤️.ws/love"]),
    # --- English prose: brackets, quotes, sentence punctuation ---
    ("Read https://example.com/post.", ["https://example.com/post"]),
    ("(see https://en.wikipedia.org/wiki/Foo_(bar))", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
    (
        "See https://example.com/a, then https://example.com/b.",
        ["https://example.com/a", "https://example.com/b"],
    ),
    ("Is it https://example.com/q?", ["https://example.com/q"]),
    ("Wow https://example.com/w!", ["https://example.com/w"]),
    ("'https://example.com/single'", ["https://example.com/single"]),
    ('"https://example.com/double"', ["https://example.com/double"]),
    ("[https://example.com/square]", ["https://example.com/square"]),
    ("{https://example.com/curly}", ["https://example.com/curly"]),
    ("<https://example.com/angle>", ["https://example.com/angle"]),
    ("https://example.com/path_(with)_parens", ["https://example.com/path_(with)_parens"]),
    (
        "https://example.com/foo-(with-nested-(parens)).",
        ["https://example.com/foo-(with-nested-(parens))"],
    ),
    (
        "https://en.wikipedia.org/wiki/Michelson–Morley_experiment is famous",
        ["https://en.wikipedia.org/wiki/Michelson–Morley_experiment"],
    ),
    ("https://example.com/it's-fine", ["https://example.com/it's-fine"]),
    ("Go to https://example.com/a; it works", ["https://example.com/a"]),
    ("Path: https://example.com/dir/...", ["https://example.com/dir/"]),
    ("https://example.com/a:b:c is odd", ["https://example.com/a:b:c"]),
    ("Visit HTTPS://EXAMPLE.COM/UPPER now", ["HTTPS://EXAMPLE.COM/UPPER"]),
    ("no links here, just example dot com", []),
    ("Version 1.2.3 and file.txt", []),
    ("https://example.com/a--b", ["https://example.com/a--b"]),
    (
        "https://www.bloomberg.com/news/what-s-troubling-germany-inc-",
        ["https://www.bloomberg.com/news/what-s-troubling-germany-inc-"],
    ),
    ("email me at someone@example.com", []),
    ("https://example.com/end)", ["https://example.com/end"]),
    ("Check https://example.com/x‼", ["https://example.com/x‼"]),
    # --- Markdown-ish text ---
    ("[docs](https://example.com/docs)", ["https://example.com/docs"]),
    ("**https://example.com/bold**", ["https://example.com/bold"]),
    ("__https://example.com/under__", []),  # linkify-it: "_" glued before a scheme is no link
    ("~~https://example.com/old~~", ["https://example.com/old"]),
    ("`https://example.com/code`", ["https://example.com/code"]),
    ("> https://example.com/quoted", ["https://example.com/quoted"]),
    (
        "- https://example.com/item1\n- https://example.com/item2",
        ["https://example.com/item1", "https://example.com/item2"],
    ),
    ("1. https://example.com/first", ["https://example.com/first"]),
    ("![img](https://example.com/a.png)", ["https://example.com/a.png"]),
    ("<https://example.com/auto>.", ["https://example.com/auto"]),
    ("https://example.com/~user/page", ["https://example.com/~user/page"]),
    ("*https://example.com/star*", ["https://example.com/star"]),
    # --- IDN hosts and punycode ---
    ("https://例子.测试/路径", ["https://例子.测试/路径"]),
    ("http://bücher.de/katalog", ["http://bücher.de/katalog"]),
    (
        "http://www.bürgerentscheid-krankenhäuser.de",
        ["http://www.bürgerentscheid-krankenhäuser.de"],
    ),
    ("https://xn--fsqu00a.xn--0zwm56d/", ["https://xn--fsqu00a.xn--0zwm56d/"]),
    ("http://xn--df-oiy.ws/123", ["http://xn--df-oiy.ws/123"]),
    ("https://ñandú.example/ñ", ["https://ñandú.example/ñ"]),
    ("https://δοκιμή.example/δ", ["https://δοκιμή.example/δ"]),
    ("https://中文.com/路径", ["https://中文.com/路径"]),
    ("https://百度.中国", ["https://百度.中国"]),
    ("https://münchen.de, schön", ["https://münchen.de"]),
    # --- Ports ---
    ("http://example.com:8080", ["http://example.com:8080"]),
    ("http://example.com:8080/path?x=1", ["http://example.com:8080/path?x=1"]),
    ("https://example.com:443。", ["https://example.com:443"]),
    ("http://localhost:3000/api", ["http://localhost:3000/api"]),
    ("http://127.0.0.1:8000/admin", ["http://127.0.0.1:8000/admin"]),
    ("http://example.com:65535/max", ["http://example.com:65535/max"]),
    ("端口http://example.com:8080，好", ["http://example.com:8080"]),
    ("http://example.com:8080看看", ["http://example.com:8080"]),
    # --- IPv6 literals (found whole; admission then refuses IP addresses) ---
    ("http://[2001:db8::1]/", ["http://[2001:db8::1]/"]),
    ("http://[::1]:8080/admin", ["http://[::1]:8080/admin"]),
    ("服务器 http://[2001:db8::1]:8443/x，请看", ["http://[2001:db8::1]:8443/x"]),
    ("(http://[fe80::1]/a)", ["http://[fe80::1]/a"]),
    ("http://[::ffff:192.0.2.1]/v4", ["http://[::ffff:192.0.2.1]/v4"]),
    ("https://[2001:db8::2]", ["https://[2001:db8::2]"]),
    # --- Queries and fragments ---
    ("https://example.com/?foo=bar", ["https://example.com/?foo=bar"]),
    ("https://example.com?foo=bar", ["https://example.com?foo=bar"]),
    ("https://example.com/#foo=bar", ["https://example.com/#foo=bar"]),
    ("https://example.com#foo", ["https://example.com#foo"]),
    ("https://example.com/p?x=1&y=2#top.", ["https://example.com/p?x=1&y=2#top"]),
    ("https://example.com/p?x=1&y=2&", ["https://example.com/p?x=1&y=2&"]),
    (
        "https://example.com/p?redirect=https://other.example/x",
        ["https://example.com/p?redirect=https://other.example/x"],
    ),
    ("https://example.com/a#:~:text=hello", ["https://example.com/a#:~:text=hello"]),
    ("https://example.com/p?q=a+b", ["https://example.com/p?q=a+b"]),
    ("https://example.com/#!/route", ["https://example.com/#!/route"]),
    # --- Percent-encoding ---
    (
        "https://zh.wikipedia.org/wiki/%E4%B8%8A%E6%B5%B7 不错",
        ["https://zh.wikipedia.org/wiki/%E4%B8%8A%E6%B5%B7"],
    ),
    ("https://example.com/a%20b", ["https://example.com/a%20b"]),
    (
        "https://example.com/search?q=%E4%B8%AD%E6%96%87。",
        ["https://example.com/search?q=%E4%B8%AD%E6%96%87"],
    ),
    ("https://example.com/%F0%9F%98%80", ["https://example.com/%F0%9F%98%80"]),
    ("https://example.com/100%", ["https://example.com/100%"]),
    (
        "https://example.com/?u=http%3A%2F%2Fx.example",
        ["https://example.com/?u=http%3A%2F%2Fx.example"],
    ),
    ("(https://example.com/a%28b%29)", ["https://example.com/a%28b%29"]),
    ("https://example.com/%e6%b4%bb%e5%8a%a8，", ["https://example.com/%e6%b4%bb%e5%8a%a8"]),
    # --- Full-width punctuation right after a link ---
    ("https://example.com/a，", ["https://example.com/a"]),
    ("https://example.com/a。", ["https://example.com/a"]),
    ("https://example.com/a！", ["https://example.com/a"]),
    ("https://example.com/a？", ["https://example.com/a"]),
    ("https://example.com/a、", ["https://example.com/a"]),
    ("https://example.com/a；", ["https://example.com/a"]),
    ("https://example.com/a：", ["https://example.com/a"]),
    ("https://example.com/a）", ["https://example.com/a"]),
    ("https://example.com/a」", ["https://example.com/a"]),
    ("https://example.com/a』", ["https://example.com/a"]),
    ("https://example.com/a】", ["https://example.com/a"]),
    ("https://example.com/a》", ["https://example.com/a"]),
    ("https://example.com/a”", ["https://example.com/a"]),
    ("https://example.com/a…", ["https://example.com/a"]),
    ("https://example.com/a．", ["https://example.com/a"]),
    ("https://example.com/a（注）", ["https://example.com/a"]),
    ("https://example.com/a！！！", ["https://example.com/a"]),
    ("https://example.com：8080", ["https://example.com"]),
    # --- CJK text glued before the scheme ---
    ("看这个https://example.com", ["https://example.com"]),
    ("请访问http://example.com/path", ["http://example.com/path"]),
    ("链接https://a.example和https://b.example", ["https://a.example", "https://b.example"]),
    ("日本語https://example.jp/x", ["https://example.jp/x"]),
    ("한국어https://example.kr/x", ["https://example.kr/x"]),
    (
        "https://example.com/路径https://b.example/x",
        ["https://example.com/路径", "https://b.example/x"],
    ),
    # --- CJK text glued after a host, found by the fuzz (tests/test_fuzz_urls.py) ---
    ("https://example.com看这个.", ["https://example.com"]),
    ("https://example.com👉点这里.", ["https://example.com"]),
    ("https://example.com看这个,也看example.org", ["https://example.com"]),
    ("http://x看https://example.com看这个", ["http://x", "https://example.com"]),
    ("网址HTTPS://EXAMPLE.COM/X", ["HTTPS://EXAMPLE.COM/X"]),
    ("看ftp://example.com/file", []),
    ("xhttps://example.com", []),
    ("Москваhttps://example.ru", []),
    # --- Hosts that are not hosts: no link, never a piece of one ---
    ("http://-example.com", []),
    ("http://example-.com/x", []),
    ("https://example.c_om/path", []),
    ("https://example.com_/path", []),
    ("http://.example.com", []),
    ("http://", []),
    ("https://#", []),
    ("看 http://-bad.example/活动 了", []),
    ("https://exa_mple.com/x", []),
    ("_http://example.com", []),
    # --- Credentials are part of the link (and then refused) ---
    ("https://user:pass@example.com", ["https://user:pass@example.com"]),
    ("https://google.com@evil.example/", ["https://google.com@evil.example/"]),
    ("https://user@example.com", ["https://user@example.com"]),
    (
        "登录 https://admin:123456@example.com/后台，别外传",
        ["https://admin:123456@example.com/后台"],
    ),
    ("http://user@example.com:8080/x", ["http://user@example.com:8080/x"]),
    ("(https://a:b@example.com)", ["https://a:b@example.com"]),
    # --- Other schemes and things that only look like links ---
    ("javascript:alert(1)", []),
    ("ftp://example.com/file", []),
    ("mailto:someone@example.com", []),
    ("data:text/html,hi", []),
    ("//example.com/path", []),
    ("www.example.com", []),
    ("example.com", []),
    ("hppt://example.com", []),
    ("file:///etc/passwd", []),
    ("tel:+861234567", []),
]


@pytest.mark.parametrize(("text", "expected"), TEXTS)
def test_links_in_messages_are_found_whole(text: str, expected: list[str]) -> None:
    found = find_urls(text)
    assert [f.url for f in found] == expected
    # Positions are str indices: the text there is exactly the link.
    assert all(text[f.start : f.end] == f.url for f in found)


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # tdlib counts Chinese text and full-width punctuation as part of a link entity; the
        # link inside is what the plain-text rules find, and a bare domain gets https://.
        ("https://suo.run/abc，很好", "https://suo.run/abc"),
        ("看这个https://zh.wikipedia.org/wiki/上海，不错", "https://zh.wikipedia.org/wiki/上海"),
        ("看这个example.com/a?b=1。", "https://example.com/a?b=1"),
        ("example.com", "https://example.com"),
        ("www.example.com/活动", "https://www.example.com/活动"),
        ("example.comだよね", "https://example.com"),
        ("https://example.org/活动?x=1", "https://example.org/活动?x=1"),
        ("HTTP://Example.com/X。", "HTTP://Example.com/X"),
        ("https://user:pass@example.com", "https://user:pass@example.com"),
    ],
)
def test_url_entities_are_cleaned_by_the_plain_text_rules(text: str, expected: str) -> None:
    (found,) = find_urls(text, [Entity("url", 0, utf16_len(text))])
    assert found.url == expected
    # The position stays the entity's: what the member saw highlighted as the link.
    assert (found.start, found.end) == (0, len(text))


@pytest.mark.parametrize("text", ["ftp://example.com/file", "看看", "-example.com"])
def test_url_entities_without_a_web_link_give_nothing(text: str) -> None:
    assert find_urls(text, [Entity("url", 0, utf16_len(text))]) == ()


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        # Taken whole, as written: never a piece of the member's link.
        ("https://example.org/活动?x=1", "https://example.org/活动?x=1"),
        ("https://example.com/a，b", "https://example.com/a，b"),
        ("http://example.comだよね", "http://example.comだよね"),
        ("https://-example.com/x", "https://-example.com/x"),
        ("https://user:pass@example.com", "https://user:pass@example.com"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        # Only punctuation around the link is dropped.
        ("https://example.com/a。", "https://example.com/a"),
        ("https://example.com/a.", "https://example.com/a"),
        ("<https://example.com/a>", "https://example.com/a"),
        ("（https://example.com/a）", "https://example.com/a"),
        ("看这个https://example.com/x", "https://example.com/x"),
        # A bare domain gets https://.
        ("example.org/page", "https://example.org/page"),
        ("example.com:8080/x", "https://example.com:8080/x"),
        ("例子.测试/路径", "https://例子.测试/路径"),
        ("「example.com」", "https://example.com"),
        # Words that are not links.
        ("谢谢", None),
        ("hello", None),
        ("时间:10:00", None),
        ("1.2.3", None),
    ],
)
def test_a_command_argument_is_the_link_as_written(word: str, expected: str | None) -> None:
    assert link_in_argument(word) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("javascript:alert(1)", "url_scheme"),
        ("ftp://example.com/file", "url_scheme"),
        ("data:text/html,hi", "url_scheme"),
        ("https://", "url_invalid"),
        ("https://exa mple.com", "url_invalid"),
        ("https://[::1", "url_invalid"),
        ("https://-example.com/x", "url_invalid"),
        ("https://example-.com/x", "url_invalid"),
        ("https://example.c_om/x", "url_invalid"),
        ("https://example..com/x", "url_invalid"),
        ("https://example.com\\@example.org/x", "url_invalid"),
        ("https://example.com/" + "a" * 5000, "url_too_long"),
        ("https://user:pass@example.com", "url_credentials"),
        ("https://user@example.com", "url_credentials"),
        ("https://google.com@evil.example/", "url_credentials"),
        ("https://:@example.com/", "url_credentials"),
    ],
)
def test_refused_urls_say_why(raw: str, code: str) -> None:
    with pytest.raises(UserError) as info:
        normalize_url(raw, max_length=2048)
    assert info.value.code == code


def test_a_disguised_url_is_refused_naming_the_host_it_really_opens() -> None:
    with pytest.raises(UserError) as info:
        normalize_url("https://google.com@evil.example/login", max_length=2048)
    assert info.value.params == {"host": "evil.example"}


def test_normalize_lowercases_scheme_and_host_and_keeps_idn_readable() -> None:
    assert normalize_url("HTTPS://Example.COM/Path?Q=1#Frag", max_length=2048) == (
        "https://example.com/Path?Q=1#Frag"
    )
    assert normalize_url("https://例子.测试/路径", max_length=2048) == "https://例子.测试/路径"
    assert normalize_url("https://my_site.example/x", max_length=2048) == (
        "https://my_site.example/x"
    )


def test_location_header_is_ascii() -> None:
    location = location_header("https://例子.测试/路径?q=中")
    assert location == "https://xn--fsqu00a.xn--0zwm56d/%E8%B7%AF%E5%BE%84?q=%E4%B8%AD"
    location.encode("ascii")

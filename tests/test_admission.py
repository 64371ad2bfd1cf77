"""Which links members may shorten and the warnings they see on links. Everything is pure:
no DNS, no sockets."""

from __future__ import annotations

import string

import pytest

from bot.admission import (
    SHORTENER_DOMAINS,
    Risk,
    refusal,
    risk_label,
    risks,
)
from bot.i18n import LANGS, catalog, translate

BLOCKED = ("blocked.example", "Ads.Example.", "广告.中国")

P, IP, B, LOOK, S = (
    Risk.PRIVATE,
    Risk.IP_LITERAL,
    Risk.BLOCKED,
    Risk.LOOKALIKE,
    Risk.SHORTENER,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # Public addresses with nothing to warn about.
        ("https://example.com/", ()),
        ("https://www.example.com:8443/a?b=1#c", ()),
        ("HTTPS://SUO.RUN/AB", ()),
        ("https://例子.测试/", ()),
        ("https://例子。测试/", ()),  # an ideographic full stop separates labels
        ("https://user:pw@example.com/", ()),
        ("https://1.2.3.4.5/", ()),  # not IPv4 (five parts): browsers refuse it anyway
        # IP literals, public and internal, in every spelling browsers accept.
        ("http://8.8.8.8/", (IP,)),
        ("http://8.8.8.8.:80/", (IP,)),
        ("http://[2606:4700:4700::1111]/", (IP,)),
        ("http://127.0.0.1/", (P, IP)),
        ("http://[::1]/", (P, IP)),
        ("http://127.1/", (P, IP)),
        ("http://2130706433/", (P, IP)),
        ("http://0x7f.1/", (P, IP)),
        ("http://0x7F000001/", (P, IP)),
        ("http://0177.0.0.1/", (P, IP)),
        ("http://0/", (P, IP)),
        ("http://%31%32%37.0.0.1/", (P, IP)),
        ("http://１２７.０.０.１/", (P, IP)),  # full-width digits map to ASCII
        ("http://10.0.0.5:8080/admin", (P, IP)),
        ("http://192.168.1.1", (P, IP)),
        ("http://172.16.3.4/", (P, IP)),
        ("http://100.64.0.1/", (P, IP)),  # carrier-grade NAT
        ("http://169.254.169.254/latest/meta-data", (P, IP)),  # cloud metadata
        ("http://192.168.1.\u00ad1/admin", (P, IP)),  # a soft hyphen browsers ignore
        ("http://224.0.0.1/", (P, IP)),
        ("http://[fe80::1]/", (P, IP)),
        ("http://[fd00::5]/", (P, IP)),
        ("http://[::]/", (P, IP)),
        ("http://[::ffff:127.0.0.1]/", (P, IP)),
        ("http://[::ffff:a00:5]/", (P, IP)),
        ("http://[2002:c0a8:101::1]/", (P, IP)),  # 6to4 around 192.168.1.1
        ("http://[64:ff9b::a00:5]/", (P, IP)),  # NAT64 around 10.0.0.5
        # Browsers read "\" as "/": the host is 127.0.0.1 although urllib sees example.com.
        ("http://127.0.0.1\\@example.com/", (P, IP)),
        ("http:///127.0.0.1/", (P, IP)),
        # Intranet names.
        ("http://localhost:3000", (P,)),
        ("http://LOCALHOST./", (P,)),
        ("http://app.localhost/", (P,)),
        ("http://printer.local/", (P,)),
        ("http://db.internal/", (P,)),
        ("http://nas.lan/", (P,)),
        ("http://router.home.arpa/", (P,)),
        ("http://intranet/", (P,)),
        # Look-alike domains, typed in Unicode or as punycode alike.
        ("https://xn--80ak6aa92e.com/", (LOOK,)),
        ("https://XN--80AK6AA92E.com/", (LOOK,)),
        ("https://аррӏе.com/", (LOOK,)),  # all Cyrillic, every letter has a Latin twin
        ("https://login.xn--pple-43d.com/", (LOOK,)),
        ("https://login.аpple.com/", (LOOK,)),  # Cyrillic а among Latin letters
        ("https://раypal.com/", (LOOK,)),
        ("https://ѕсоре.net/", (LOOK,)),
        ("https://xn--invalid-punycode-.com/", (LOOK,)),  # not valid punycode
        # Real names in one script (or in a combination a language writes) are not suspicious.
        ("https://яндекс.рф/", ()),
        ("https://xn--d1acpjx3f.xn--p1ai/", ()),  # яндекс.рф as punycode
        ("https://президент.рф/", ()),
        ("https://δοκιμή.gr/", ()),
        ("https://münchen.de/", ()),
        ("https://xn--mnchen-3ya.de/", ()),
        ("https://例子.测试/", ()),
        ("https://xn--fsqu00a.xn--0zwm56d/", ()),  # 例子.测试 as punycode
        ("https://日本語のテスト.jp/", ()),
        ("https://한국.kr/", ()),
        ("https://ok中文.com/", ()),
        # Shorteners hide where they lead.
        ("https://bit.ly/abc", (S,)),
        ("https://www.bit.ly/x", (S,)),
        ("https://t.cn/A6abc", (S,)),
        ("http://url.cn/5abc", (S,)),
        ("https://w.url.cn/s/abc", (S,)),
        ("https://tinyurl.com/y3x", (S,)),
        ("https://notbit.ly/x", ()),
        ("https://bit.ly.example.com/x", ()),
        ("https://youtu.be/dQw4w9WgXcQ", ()),
        # Block lists: the domain and its subdomains, whatever case or script they use.
        ("https://blocked.example/x", (B,)),
        ("https://a.b.BLOCKED.example/x", (B,)),
        ("https://notblocked.example/x", ()),
        ("https://ads.example/", (B,)),
        ("https://www.广告.中国/", (B,)),
        ("https://www.xn--4rr70v.xn--fiqs8s/", (B,)),
        # Several risks at once, in a fixed order.
        ("http://bit.ly.local/", (P,)),
        ("https://xn--80ak6aa92e.blocked.example/", (B, LOOK)),
        # Nothing to judge.
        ("not a url", ()),
        ("http://[::1/", ()),
        ("https://", ()),
    ],
)
def test_risks_of_urls(url: str, expected: tuple[Risk, ...]) -> None:
    assert risks(url, BLOCKED) == expected


def test_risks_follow_declaration_order() -> None:
    assert risks("http://127.0.0.1/", ["127.0.0.1"]) == (P, IP, B)


def test_shortener_list_is_lower_case_ascii_domains() -> None:
    allowed = set(string.ascii_lowercase + string.digits + ".-")
    assert all(set(domain) <= allowed and "." in domain for domain in SHORTENER_DOMAINS)
    assert "youtu.be" not in SHORTENER_DOMAINS


@pytest.mark.parametrize(
    ("url", "code", "params"),
    [
        ("http://127.0.0.1:8000/", "url_private", {"host": "127.0.0.1"}),
        ("http://2130706433/", "url_private", {"host": "127.0.0.1"}),
        ("http://[::1]/", "url_private", {"host": "::1"}),
        ("http://169.254.169.254/latest/meta-data", "url_private", {"host": "169.254.169.254"}),
        ("http://localhost:3000", "url_private", {"host": "localhost"}),
        ("http://printer.local/", "url_private", {"host": "printer.local"}),
        ("http://intranet/", "url_private", {"host": "intranet"}),
        ("http://127.0.0.1\\@example.com/", "url_private", {"host": "127.0.0.1"}),
        ("http://8.8.8.8/", "url_ip_literal", {"ip": "8.8.8.8"}),
        ("http://0x08080808/", "url_ip_literal", {"ip": "8.8.8.8"}),
        ("http://[2606:4700:4700::1111]/", "url_ip_literal", {"ip": "2606:4700:4700::1111"}),
        ("https://blocked.example/x", "url_blocked", {"host": "blocked.example"}),
        ("https://m.Blocked.Example/x", "url_blocked", {"host": "m.blocked.example"}),
        ("https://www.广告.中国/", "url_blocked", {"host": "www.广告.中国"}),
    ],
)
def test_refusal_names_what_is_wrong(url: str, code: str, params: dict[str, str]) -> None:
    error = refusal(url, BLOCKED)
    assert error is not None
    assert (error.code, error.message_key, error.params) == (code, code, params)
    # Each refusal renders in both languages with the parameters it carries.
    for lang in LANGS:
        text = _render(lang, error.message_key, **error.params)
        assert next(iter(params.values())) in text


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "https://bit.ly/abc",  # shorteners and look-alikes are allowed, only labelled
        "https://xn--80ak6aa92e.com/",
        "https://例子.测试/",
        "not a url",
    ],
)
def test_refusal_lets_ordinary_links_through(url: str) -> None:
    assert refusal(url, BLOCKED) is None


def test_refusal_is_returned_not_raised_and_uses_no_block_list_by_default() -> None:
    assert refusal("https://blocked.example/", []) is None
    assert isinstance(refusal("https://blocked.example/", BLOCKED), Exception)


@pytest.mark.parametrize(
    ("found", "lang", "label"),
    [
        ((), "zh-CN", ""),
        ((), "en", ""),
        ((S,), "zh-CN", "⚠️ 短链接跳转（真实去向被隐藏）"),
        ((S,), "en", "⚠️ shortener: hides the real destination"),
        ((P, IP), "zh-CN", "⚠️ 内网或本机地址；IP 地址链接（没有域名）"),
        ((P, IP), "en", "⚠️ internal or local address; IP address instead of a domain name"),
        (
            (B, LOOK),
            "en",
            "⚠️ blocked domain; look-alike letters from another script in the domain: "
            "may imitate another site",
        ),
        ((LOOK,), "fr", "⚠️ 域名含形似拉丁字母的其他文字（如西里尔字母），可能仿冒其他网站"),
    ],
)
def test_risk_label(found: tuple[Risk, ...], lang: str, label: str) -> None:
    assert risk_label(found, lang) == label


def test_every_risk_has_a_label_in_both_languages() -> None:
    for risk in Risk:
        for lang in LANGS:
            assert risk_label([risk], lang).startswith("⚠️ ")


def test_every_text_is_in_both_languages_with_the_same_fields() -> None:
    for key, texts in catalog().items():
        assert set(texts) == set(LANGS), key
        fields = {lang: set(_fields(text)) for lang, text in texts.items()}
        assert fields["zh-CN"] == fields["en"], key
    assert _fields(catalog()["rate_member"]["en"]) == ["seconds"]
    assert _fields(catalog()["rate_group"]["zh-CN"]) == ["seconds"]


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _render(lang: str, key: str, **params: object) -> str:
    return translate(lang, key, **params)

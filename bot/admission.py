"""URL risk: which links may be shortened and what risks a link carries (internal addresses,
IP literals, blocked domains, look-alike hosts, shorteners). Pure: no I/O, no DNS.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

import idna
from confusable_homoglyphs import categories, confusables
from yarl import URL

from bot.errors import UserError
from bot.i18n import translate
from bot.urls import is_blocked

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Risk(StrEnum):
    """What a link may do to the people who click it.

    Declared in reporting order: the refusal reasons first, most specific first, then the
    risks that are only labelled. `risks()` returns them in this order.
    """

    PRIVATE = "private"  # loopback, private, link-local, reserved... or an intranet name
    IP_LITERAL = "ip_literal"  # an IP address instead of a domain name
    BLOCKED = "blocked"  # on the configured or the group's block list
    LOOKALIKE = "lookalike"  # letters of another script posing as Latin ones (аррӏе.com)
    SHORTENER = "shortener"  # another shortener: hides the real destination


# Generic shorteners: anyone can point a code anywhere, so the destination is hidden.
# Platform share links (youtu.be, v.douyin.com, amzn.to, m.tb.cn...) lead to that platform's
# own content and are left out. Matched on the host and all its parents (www.bit.ly).
SHORTENER_DOMAINS = frozenset(
    {
        # Chinese services
        "t.cn",
        "url.cn",
        "dwz.cn",
        "suo.im",
        "3.cn",
        "sohu.gg",
        "mrw.so",
        "reurl.cc",
        "ppt.cc",
        "lihi.cc",
        # international
        "bit.ly",
        "j.mp",
        "tinyurl.com",
        "t.co",
        "goo.gl",
        "ow.ly",
        "is.gd",
        "v.gd",
        "buff.ly",
        "rebrand.ly",
        "cutt.ly",
        "s.id",
        "tiny.cc",
        "shorturl.at",
        "rb.gy",
        "t.ly",
        "bl.ink",
        "lnkd.in",
        "tr.im",
        "u.nu",
        "x.co",
        "clck.ru",
        "surl.li",
        "soo.gd",
        "adf.ly",
        "shorte.st",
        "bc.vc",
    }
)

# Names that never resolve on the public internet (RFC 6761, 6762 appendix G, 8375) and the
# names home routers and corporate resolvers hand out.
_PRIVATE_SUFFIXES = (
    "localhost",
    "localdomain",
    "local",
    "internal",
    "intranet",
    "lan",
    "home",
    "corp",
    "private",
    "home.arpa",
)

# U+3002 "。" and its variants separate labels in browsers exactly like ".".
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_SPECIAL_SCHEME = re.compile(r"(?i)https?:")
_AUTHORITY = re.compile(r"[^/\\?#]*")
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]+|[1-9][0-9]*|0")
# Where an IPv6 address carries an IPv4 one that a router will forward to.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class _Host:
    """A host as a browser will use it: a readable name (or an IP) and its ASCII form."""

    name: str  # NFKC-mapped, lower-case, no trailing dot; Unicode labels stay Unicode
    ascii: str  # the punycode form, for comparing with domain lists
    ip: IPAddress | None


def risks(url: str, blocked: Iterable[str]) -> tuple[Risk, ...]:
    """Every risk of the http(s) `url`, in `Risk` declaration order.

    `blocked` are domains; each blocks itself and its subdomains. An unparsable URL or one
    without a host has no risks here: validation (`bot.urls.normalize_url`) refuses it.
    """
    return _risks_of(_judge(url, blocked))


def refusal(url: str, blocked: Iterable[str]) -> UserError | None:
    """Why `url` may not be shortened, or None when it may.

    Internal addresses, IP literals and blocked domains are refused; shorteners and punycode
    hosts are allowed and only labelled (`risk_label`). The error is returned, not raised, so
    callers decide whether to reply, skip or raise.
    """
    return _refusal_of(_judge(url, blocked))


def assess(url: str, blocked: Iterable[str]) -> tuple[UserError | None, tuple[Risk, ...]]:
    """`refusal` and `risks` together, reading the URL's hosts once."""
    judged = _judge(url, blocked)
    return _refusal_of(judged), _risks_of(judged)


def _judge(url: str, blocked: Iterable[str]) -> list[tuple[_Host, set[Risk]]]:
    blocked_ascii = tuple(_domain_ascii(d) for d in blocked)
    return [(host, _host_risks(host, blocked_ascii)) for host in _hosts(url)]


def _risks_of(judged: list[tuple[_Host, set[Risk]]]) -> tuple[Risk, ...]:
    found: set[Risk] = set()
    for _, risks_of_host in judged:
        found.update(risks_of_host)
    return tuple(risk for risk in Risk if risk in found)


def _refusal_of(judged: list[tuple[_Host, set[Risk]]]) -> UserError | None:
    for risk, key in _REFUSALS:
        for host, found in judged:
            if risk in found:
                shown = str(host.ip) if host.ip is not None else host.name
                params = {"ip": shown} if risk is Risk.IP_LITERAL else {"host": shown}
                return UserError(key, key, **params)
    return None


# Refusal reasons by precedence, with their message keys ("url_blocked" is the catalog's).
_REFUSALS = (
    (Risk.PRIVATE, "url_private"),
    (Risk.IP_LITERAL, "url_ip_literal"),
    (Risk.BLOCKED, "url_blocked"),
)


def risk_label(risks: Sequence[Risk], lang: str) -> str:
    """A one-line warning for chat naming every risk, or "" when there is none."""
    if not risks:
        return ""
    separator = translate(lang, "risk.separator")
    names = separator.join(translate(lang, f"risk.{risk.value}") for risk in risks)
    return translate(lang, "risk.label", risks=names)


def _hosts(url: str) -> list[_Host]:
    """The hosts of `url` as a browser and as `urllib` read it (usually the same one).

    Browsers follow the WHATWG URL rules (backslashes as slashes, percent-decoded and
    NFKC-mapped hosts, shorthand IPv4); judging both views means neither hides an address.
    """
    raw: list[str] = []
    browser = _browser_host(url)
    if browser is not None:
        raw.append(browser)
    try:
        parsed = urlsplit(url.strip()).hostname
    except ValueError:
        parsed = None
    if parsed:
        raw.append(parsed)
    hosts: list[_Host] = []
    for text in dict.fromkeys(raw):
        host = _parse_host(text)
        if host is not None and host not in hosts:
            hosts.append(host)
    return hosts


def _browser_host(url: str) -> str | None:
    """The host of an http(s) URL by the WHATWG rules browsers follow.

    They drop tabs and newlines anywhere, read "\\" as "/", and skip any number of slashes
    after the scheme: "http://127.0.0.1\\@example.com" goes to 127.0.0.1, not example.com.
    """
    text = re.sub(r"[\t\n\r]", "", url.strip("\x00- "))
    scheme = _SPECIAL_SCHEME.match(text)
    if scheme is None:
        return None
    rest = text[scheme.end() :].lstrip("/\\")
    authority = _AUTHORITY.match(rest)
    host_port = authority.group(0).rpartition("@")[2] if authority else ""
    if host_port.startswith("["):
        end = host_port.find("]")
        return host_port[1:end] if end > 0 else None
    return host_port.partition(":")[0] or None


def _parse_host(text: str) -> _Host | None:
    name = unicodedata.normalize("NFKC", unquote(text)).lower().translate(_DOTS)
    # UTS #46 as browsers apply it: characters they silently ignore (the soft hyphen,
    # zero-width joiners...) vanish, so "192.168.1.\u00ad1" is 192.168.1.1 here too. A name
    # it refuses, browsers refuse as well; it is judged as it is.
    with contextlib.suppress(idna.IDNAError, ValueError):
        name = idna.uts46_remap(name, std3_rules=False, transitional=False)
    name = name.rstrip(".")
    if not name:
        return None
    ip = _ip_of(name)
    if ip is not None:
        return _Host(name=name, ascii=str(ip), ip=ip)
    return _Host(name=name, ascii=_domain_ascii(name), ip=None)


def _domain_ascii(domain: str) -> str:
    """`domain` in punycode, lower-case, without leading or trailing dots."""
    name = unicodedata.normalize("NFKC", domain.strip()).lower().translate(_DOTS).strip(".")
    if name.isascii():
        return name
    try:
        encoded = URL.build(scheme="http", host=name).raw_host
    except (ValueError, UnicodeError):
        return name
    return encoded or name


def _ip_of(host: str) -> IPAddress | None:
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return _whatwg_ipv4(host)


def _whatwg_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`host` as browsers parse IPv4: 1 to 4 parts, each decimal, 0x-hex or 0-octal, the
    last filling the remaining bytes (127.1, 2130706433, 0x7f.1, 0177.0.0.1)."""
    parts = host.split(".")
    if len(parts) > 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if not _IPV4_PART.fullmatch(part):
            return None
        if part[:2] in ("0x", "0X"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part[0] == "0":
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last + sum(n << (8 * (3 - i)) for i, n in enumerate(leading))
    return ipaddress.IPv4Address(value)


def _host_risks(host: _Host, blocked_ascii: tuple[str, ...]) -> set[Risk]:
    found: set[Risk] = set()
    if host.ip is not None:
        found.add(Risk.IP_LITERAL)
        if _is_internal_ip(host.ip):
            found.add(Risk.PRIVATE)
        if host.ascii in blocked_ascii:
            found.add(Risk.BLOCKED)
        return found
    labels = host.name.split(".")
    if len(labels) == 1 or any(_ends_with(host.name, s) for s in _PRIVATE_SUFFIXES):
        found.add(Risk.PRIVATE)
    if (not host.name.isascii() or "xn--" in host.name) and is_lookalike_host(labels):
        found.add(Risk.LOOKALIKE)
    if is_blocked(host.ascii, blocked_ascii):
        found.add(Risk.BLOCKED)
    if is_blocked(host.ascii, SHORTENER_DOMAINS):
        found.add(Risk.SHORTENER)
    return found


# Script sets one label may mix without being suspicious: UTS #39's "highly restrictive"
# profile, which is what browsers use to decide whether to show a host in Unicode.
_SCRIPT_COMBINATIONS = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})  # digits, hyphens, combining marks


def is_lookalike_host(labels: Sequence[str]) -> bool:
    """True when a host, typed in Unicode or as xn--, could pass for another name: a label
    mixes scripts no language writes together ("аpple", with a Cyrillic а), or every letter
    of a non-Latin label has a Latin twin under a top-level domain of another script
    ("аррӏе.com", all Cyrillic). яндекс.рф, 例子.测试, münchen.de or 日本語のテスト.jp are not.
    """
    names: list[str] = []
    for label in labels:
        if label.startswith("xn--"):
            try:
                label = idna.decode(label)
            except (idna.IDNAError, UnicodeError, ValueError):
                return True  # not valid punycode: nothing honest needs that
        names.append(label)
    tld = names[-1]
    tld_scripts = _scripts(tld)
    for label in names:
        scripts = _scripts(label)
        if len(scripts) > 1 and not any(scripts <= ok for ok in _SCRIPT_COMBINATIONS):
            return True
        if label is not tld and scripts - {"LATIN"} and not scripts <= tld_scripts:
            letters = [c for c in label if categories.alias(c) not in _NEUTRAL_SCRIPTS]
            if all(confusables.is_confusable(c, preferred_aliases=["latin"]) for c in letters):
                return True
    return False


def _scripts(label: str) -> set[str]:
    if label.isascii():
        return {"LATIN"} if any(c.isalpha() for c in label) else set()
    return {categories.alias(char) for char in label} - _NEUTRAL_SCRIPTS


def _ends_with(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


def _is_internal_ip(ip: IPAddress) -> bool:
    """True unless `ip` is a public unicast address, looking inside IPv6 forms that carry
    an IPv4 address (mapped, 6to4, NAT64, Teredo)."""
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour]
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.teredo is not None:
            embedded.append(ip.teredo[1])
        return any(v4 is not None and _is_internal_ip(v4) for v4 in embedded)
    return False

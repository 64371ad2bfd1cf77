"""Finding URLs in chat text and deciding whether one may be shortened.

Adapters pass platform entities (UTF-16 offsets, as Telegram sends them); plain text falls back
to a regex tuned for Chinese text around links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from yarl import URL

from bot.errors import UserError
from bot.model import FoundUrl


@dataclass(frozen=True, slots=True)
class Entity:
    """A platform text entity: `offset`/`length` count UTF-16 code units."""

    kind: str  # "url" (the text itself) or "text_link" (the link hides behind the text)
    offset: int
    length: int
    url: str | None = None


# Scheme, host (IDN labels allowed; an ASCII top-level label stops at the first non-ASCII
# character so "example.com看看" ends at ".com"), optional port, then ASCII path characters only:
# Chinese text right after a link is text, not path. Percent-encoded paths are what apps paste.
_URL_HEAD = r"""https?://
    (?:\[[0-9a-fA-F:.]+\]
      |(?:[^\W_](?:[\w-]*[^\W_])?\.)*(?:[a-zA-Z0-9-]*[a-zA-Z0-9]|[^\W\d_a-zA-Z]{2,}))
    (?::\d{1,5})?"""
_URL_RE = re.compile(_URL_HEAD + r"(?:[/?#][!#-;=?-~]*)?", re.VERBOSE | re.IGNORECASE)
_TRAILING = ".,;:!?'*~_"
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _utf16_to_index(text: str, units: int) -> int:
    """The str index reached after `units` UTF-16 code units of `text`."""
    count = 0
    for index, char in enumerate(text):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(text)


def _trim(candidate: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets from a regex match's end."""
    while candidate:
        last = candidate[-1]
        unbalanced = last in _PAIRS and candidate.count(last) > candidate.count(_PAIRS[last])
        if last not in _TRAILING and not unbalanced:
            break
        candidate = candidate[:-1]
    return candidate


# Inside an entity Telegram has already decided the link goes on; keep its non-ASCII path
# (https://example.com/活动) but stop at CJK and full-width punctuation, which it also includes.
_CJK_PUNCT = (
    "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2014\u2018-\u201f\u2026"
)
_ENTITY_URL_RE = re.compile(
    _URL_HEAD + f'(?:[/?#][^\\s<>"{_CJK_PUNCT}]*)?', re.VERBOSE | re.IGNORECASE
)
_BARE_URL_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}(?::\d{1,5})?(?:[/?#][!#-;=?-~]*)?"
)


def _clean_entity_url(raw: str) -> str | None:
    """Telegram (tdlib) glues Chinese text to links: "看这个example.com，很好" is one entity.

    Keep the link part only, as the plain-text rules would; a bare host gets http://.
    """
    match = _ENTITY_URL_RE.search(raw)
    if match is not None:
        return _trim(match.group(0))
    bare = _BARE_URL_RE.search(raw)
    if bare is None:
        return None
    return "http://" + _trim(bare.group(0))


def find_urls(text: str, entities: Iterable[Entity] | None = None) -> tuple[FoundUrl, ...]:
    """URLs in `text`: from entities when the platform gave them, else by regex."""
    if entities is not None:
        found = []
        for entity in entities:
            start = _utf16_to_index(text, entity.offset)
            end = _utf16_to_index(text, entity.offset + entity.length)
            if entity.kind == "text_link" and entity.url:
                found.append(FoundUrl(entity.url, start, end))
            elif entity.kind == "url":
                cleaned = _clean_entity_url(text[start:end])
                if cleaned is not None:
                    found.append(FoundUrl(cleaned, start, end))
        return tuple(found)
    results = []
    for match in _URL_RE.finditer(text):
        url = _trim(match.group(0))
        results.append(FoundUrl(url, match.start(), match.start() + len(url)))
    return tuple(results)


def normalize_url(raw: str, *, max_length: int) -> str:
    """The canonical form we store for `raw`, or a UserError saying why it can't be shortened.

    Scheme and host are lower-cased; an IDN host stays readable (Unicode) rather than punycode.
    """
    raw = raw.strip()
    if len(raw) > max_length:
        raise UserError("url_too_long", "url_too_long", length=len(raw), limit=max_length)
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as e:
        raise UserError("url_invalid", "url_invalid") from e
    if parts.scheme.lower() not in ("http", "https"):
        raise UserError("url_scheme", "url_scheme")
    host = (parts.hostname or "").rstrip(".")
    if not host or any(c.isspace() for c in raw):
        raise UserError("url_invalid", "url_invalid")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".")


def is_blocked(host: str, blocked_domains: Iterable[str]) -> bool:
    """True when `host` is a blocked domain or one of its subdomains."""
    host = host.lower()
    return any(host == d or host.endswith("." + d) for d in blocked_domains)


def location_header(url: str) -> str:
    """`url` as an ASCII Location header value: punycode host, percent-encoded path."""
    return str(URL(url))

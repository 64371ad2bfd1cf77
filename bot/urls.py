"""Finding links in chat text and putting one into the form we store (or saying why its form
can't be shortened); which hosts may be shortened is `bot.admission`'s to judge.

Plain text goes through linkify-it (markdown-it's linkifier, full Unicode) plus the boundaries
CJK text needs; Telegram's URL entities (UTF-16 offsets) are trusted and only cleaned.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from urllib.parse import urlsplit, urlunsplit

import regex
from linkify_it import LinkifyIt
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


@dataclass(frozen=True, slots=True)
class TextLink:
    """A link as written: `raw` is `text[start:end]`; `scheme` is linkify-it's ("http:",
    "https:", "ftp:", "mailto:", "//"), or "" for a bare domain or an e-mail address."""

    raw: str
    start: int
    end: int
    scheme: str


# Han, kana, Hangul, Bopomofo, CJK symbols and full-width forms: scripts written without
# spaces, so a link glued to them needs boundaries linkify-it (made for spaced text) can't see.
_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u2ff0-\u31ff\u3200-\u9fff\ua960-\ua97f\uac00-\ud7ff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff"
)
# Emoji and pictographs ("👉https://…👈"), glued to links in chat the way CJK text is.
_EMOJI = (
    "\u2190-\u21ff\u2300-\u23ff\u2460-\u24ff\u25a0-\u27bf\u2900-\u297f\u2b00-\u2bff"
    "\ufe0f\u200d\U0001f000-\U0001faff"
)
# Punctuation that ends a link wherever it stands: CJK sentence marks, brackets and quotes
# (。，、！？；：（）「」『』【】《》…), curly quotes and guillemets, Arabic and Devanagari
# sentence marks. Links don't carry them (a browser would percent-encode them); the prose
# around links does. So for the backtick: markdown code around a link (`https://…`).
# The middle dot (马丁·路德) and one em dash stay: titles in paths use them.
_BOUNDARY = re.compile(
    "[\u3001\u3002\u3008-\u3011\u3014-\u301b\u301d-\u301f"
    "\uff01\uff02\uff07\uff08\uff09\uff0c\uff0e\uff1a\uff1b\uff1f\uff3b\uff3d\uff5b\uff5d"
    "\uff5f-\uff64\u2018\u2019\u201c\u201d\u201e\u2026\u00ab\u00bb\u2039\u203a"
    "\u060c\u061b\u061f\u0964\u0965`]"
    "|\u2014\u2014"  # the Chinese dash ——
)
# "看这个https://…", "👉https://…", "~~https://…~~": a scheme right after CJK text, an emoji
# or a tilde starts a link (linkify-it wants a space or punctuation there).
_GLUED_SCHEME = re.compile(f"(?<=[{_CJK}{_EMOJI}~])(?:https?|ftp|mailto):", re.IGNORECASE)
# "http://example.comだよね": CJK text or an emoji right after the ASCII top label of a host is
# the sentence going on, not the host ("http://www看example.com" is left to IDN rules), also
# when the sentence ends in a full stop ("https://example.com看这个."). The path, once it
# starts, goes on through any script. The authority ends where linkify-it ends a host: at a
# space, a control character or punctuation hosts, ports and user info are not written with
# ("https://example.com看这个,也看example.org"). A lookahead, so that an authority swallowing
# the next link's scheme ("http://x看https://example.com看这个") does not hide that link's.
_AUTHORITY = regex.compile(
    r"(?=((?:https?|ftp)://(?:[^\p{Z}\p{P}\p{Cc}\s/?#]|[.:@\[\]_-])*))", regex.IGNORECASE
)
_GLUED_AFTER_HOST = re.compile(f"(?<=[A-Za-z0-9])[{_CJK}{_EMOJI}][^.]*\\.*$")
# "请访问www.baidu.com": CJK text glued before a bare domain is not its first label.
_CJK_BEFORE_HOST = re.compile(f"[{_CJK}]+(?=[A-Za-z0-9])")
# Emoji closing a link's path are decoration ("https://x.y/a👈"), as trailing "." is prose.
_TRAILING_EMOJI = re.compile(f"[{_EMOJI}]+$")
_HOST_PART = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://)?[^/?#]*")
# Markdown-ish emphasis around a link: **https://x.y/z**, ~~https://x.y/z~~.
_WRAPPERS = "*~"
_WEB_SCHEMES = ("http:", "https:")


class _WebLinkRule:
    """linkify-it's http(s)/ftp rule, plus IPv6 literal hosts ("http://[2001:db8::1]:8080/")
    it doesn't know: such a link is found whole, and `bot.admission` says why it is refused."""

    def __init__(self) -> None:
        self._plain = LinkifyIt()
        src = self._plain.re
        self._ipv6 = re.compile(
            "//"
            + src["src_auth"]
            + r"\[[0-9A-Fa-f:.]{2,45}\]"
            + src["src_port"]
            + src["src_host_terminator"]
            + src["src_path"],
            re.IGNORECASE,
        )

    def validate(self, text: str, pos: int) -> int:
        """The length of the link's tail after "http:" at `pos` (0: no link), as linkify-it
        asks of a schema rule."""
        match = self._ipv6.match(text, pos)
        if match is not None:
            return match.end() - pos
        return int(self._plain.test_schema_at(text, "http:", pos))


def _linkifier() -> LinkifyIt:
    # Built once at import and never changed after: a compiled pattern, not shared state.
    linkify = LinkifyIt(options={"fuzzy_ip": True})
    linkify.add("http:", {"validate": _WebLinkRule().validate})  # https: and ftp: alias it
    return linkify


_LINKIFY = _linkifier()


def find_links(text: str) -> tuple[TextLink, ...]:
    """Every link in `text` as linkify-it finds it, with the boundaries CJK text needs.

    linkify-it decides, except that CJK sentence punctuation and brackets end a link, a scheme
    glued to CJK text starts one, CJK text right after an ASCII host ends it, CJK text glued
    before a bare domain is left out, and markdown emphasis around a link is not part of it.
    """
    # Boundary punctuation becomes spaces of the same length, so indices stay text's own.
    masked = _BOUNDARY.sub(lambda m: " " * len(m.group()), text)
    cuts = {0, len(text)}
    cuts.update(m.start() for m in _GLUED_SCHEME.finditer(masked))
    for authority in _AUTHORITY.finditer(masked):
        glued = _GLUED_AFTER_HOST.search(masked, authority.start(1), authority.end(1))
        if glued is not None:
            cuts.add(glued.start())
    links: list[TextLink] = []
    # linkify-it sees each piece between cuts as a whole text: a link may start at a piece's
    # start and ends at its end at the latest.
    for piece_start, piece_end in pairwise(sorted(cuts)):
        for match in _LINKIFY.match(masked[piece_start:piece_end]) or ():
            start, end = piece_start + match.index, piece_start + match.last_index
            if not match.schema:
                glued = _CJK_BEFORE_HOST.match(text, start, end)
                if glued is not None:
                    start = glued.end()
            end = _close_parentheses(text, start, end, piece_end)
            end = _drop_trailing_emoji(text, start, end)
            start, end = _unwrap(text, start, end)
            links.append(TextLink(text[start:end], start, end, match.schema))
    return tuple(links)


def _close_parentheses(text: str, start: int, end: int, limit: int) -> int:
    """Nested parentheses stay whole ("…/foo-(a-(b))"): linkify-it-py closes one level only."""
    while (
        end < limit
        and text[end] == ")"
        and text.count("(", start, end) > text.count(")", start, end)
    ):
        end += 1
    return end


def _drop_trailing_emoji(text: str, start: int, end: int) -> int:
    host = _HOST_PART.match(text, start, end)
    emoji = _TRAILING_EMOJI.search(text, start, end)
    if host is None or emoji is None or emoji.start() <= host.end():
        return end  # an emoji host ("http://✪df.ws") is the host, not decoration
    return emoji.start()


def _unwrap(text: str, start: int, end: int) -> tuple[int, int]:
    """`start`/`end` without the markdown emphasis that closes a link it opened."""
    before = start
    while before > 0 and text[before - 1] in _WRAPPERS:
        before -= 1
    wrapper = text[before:start]
    if wrapper and end - start > len(wrapper) and text.endswith(wrapper, start, end):
        end -= len(wrapper)
    return start, end


def _utf16_to_index(text: str, units: int) -> int:
    """The str index reached after `units` UTF-16 code units of `text`."""
    count = 0
    for index, char in enumerate(text):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(text)


_SCHEME_AT_START = re.compile(r"[A-Za-z][A-Za-z0-9+-]*:")


def _clean_entity_url(raw: str) -> str | None:
    """The link in a Telegram URL entity: tdlib glues CJK text to links, so
    "看这个example.com，很好" is one entity. The plain-text rules find the link in it; a bare
    domain gets https://, as browsers now assume."""
    rest = raw[_leading_cjk(raw) :]
    candidate = rest if _SCHEME_AT_START.match(rest) else "https://" + rest
    for link in find_links(candidate):
        if link.start == 0 and link.scheme in _WEB_SCHEMES:
            return link.raw
        break
    return None


def _leading_cjk(text: str) -> int:
    glued = re.match(f"[{_CJK}\\s]*", text)
    return glued.end() if glued is not None else 0


def find_urls(text: str, entities: Iterable[Entity] | None = None) -> tuple[FoundUrl, ...]:
    """The http(s) links in `text`: from entities when the platform gave them, else found.

    Positions are str indices into `text`: what the member wrote, which for a cleaned entity
    is more than the link (the reply then says which link was shortened).
    """
    if entities is None:
        if "://" not in text:
            return ()  # most chat messages: no http(s) link can be in them, skip the scan
        return tuple(
            FoundUrl(link.raw, link.start, link.end)
            for link in find_links(text)
            if link.scheme in _WEB_SCHEMES
        )
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


# A scheme at a word's start or after text glued before it ("看这个https://…").
_SCHEME_IN_WORD = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+-]*:")
_BARE_DOMAIN = re.compile(r"(?:[^\W_][\w-]*\.)+[^\W\d_]{2,}")


def link_in_argument(word: str) -> str | None:
    """The link a member means by one word of a command (`/short <word>`), taken whole.

    A word with a scheme is the link as written; a bare domain ("example.org/page") gets
    https://. Only punctuation around it is dropped ("https://example.com/a。", "<…>"), never
    a piece of the link itself: what is wrong with it is validation's to say. None: the word
    is not a link (other words of a command are the member's text).
    """
    scheme = _SCHEME_IN_WORD.search(word)
    if scheme is not None:
        candidate = word[scheme.start() :]
    else:
        lead = 0
        while lead < len(word) and _is_punctuation(word[lead]):
            lead += 1
        if not _BARE_DOMAIN.match(word, lead):
            return None
        candidate = "https://" + word[lead:]
    links = find_links(candidate)
    if links and links[0].start == 0 and _is_punctuation(candidate[links[0].end :]):
        return links[0].raw
    return candidate


def _is_punctuation(text: str) -> bool:
    return all(unicodedata.category(c)[0] == "P" or c in "<>" for c in text)


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
    if "\\" in parts.netloc:
        # Browsers read "\\" as "/", urllib as part of the host: no one link for both.
        raise UserError("url_invalid", "url_invalid")
    if "@" in parts.netloc:
        # A short link would publish a password, and "https://bank.example@evil.example/"
        # is a classic disguise: the member is told which host it really opens.
        raise UserError("url_credentials", "url_credentials", host=host or "?")
    if not _valid_host(host) or any(c.isspace() for c in raw):
        raise UserError("url_invalid", "url_invalid")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


def _valid_host(host: str) -> bool:
    """A name whose labels don't start or end with "-" and whose top label has no "_"
    (the links the chat linkifier refuses), or an IPv6 literal (`bot.admission` judges those)."""
    if ":" in host:
        return True
    labels = host.split(".")
    return (
        all(label and label[0] != "-" and label[-1] != "-" for label in labels)
        and "_" not in labels[-1]
    )


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".")


def is_blocked(host: str, blocked_domains: Iterable[str]) -> bool:
    """True when `host` is a blocked domain or one of its subdomains."""
    host = host.lower()
    return any(host == d or host.endswith("." + d) for d in blocked_domains)


# A link yarl would give back unchanged: lowercase scheme and host, no port, userinfo,
# percent sign, fragment or dot segment, only characters a path or query may hold as they are.
# Most stored links are like this, and matching them costs a tenth of parsing them (a
# redirect of a link not in the cache builds its Location header: ~10 µs of ~30 µs).
_UNCHANGED_BY_YARL = re.compile(
    r"https?://[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"(?:(?:/(?!\.\.?(?:[/?]|$))[A-Za-z0-9._~!$&'()*+,;=:@-]*)+"
    r"(?:\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]+)?)?"
)


def location_header(url: str) -> str:
    """`url` as an ASCII Location header value: punycode host, percent-encoded path."""
    if _UNCHANGED_BY_YARL.fullmatch(url):
        return url
    return str(URL(url))

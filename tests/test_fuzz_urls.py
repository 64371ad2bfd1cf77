"""Fuzz: links found in any chat text are http(s) links the member wrote, found the same
with or without the text around them, and each is refused with a reason or stored in a form
the redirect can send. One property per target keeps CI's 10,000 examples affordable."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from bot.admission import assess
from bot.errors import UserError
from bot.model import FoundUrl
from bot.urls import Entity, find_urls, link_in_argument, location_header, normalize_url
from tests.fuzzing import chat_text
from tests.telegram_builders import detect_entities

MAX_URL_LENGTH = 2048  # the default `links.max_url_length`


def _stored_form(url: str) -> str | None:
    """What the bot would store for `url` (None: refused with a UserError, a reply)."""
    try:
        return normalize_url(url, max_length=MAX_URL_LENGTH)
    except UserError:
        return None


def _assert_stored_or_refused(url: str) -> None:
    stored = _stored_form(url)
    if stored is None:
        return
    assert stored.startswith(("http://", "https://"))
    assert _stored_form(stored) == stored  # storing twice changes nothing
    assess(stored, ("example.com",))  # admission judges it without failing
    try:
        header = location_header(stored)
    except ValueError:
        return  # `Links.admit` refuses these with "url_invalid"
    assert header.isascii() and not any(c in header for c in "\r\n")


def _assert_http_links_in(text: str, found: tuple[FoundUrl, ...], *, ordered: bool) -> None:
    end = 0
    for link in found:
        assert link.url.lower().startswith(("http://", "https://"))
        assert 0 <= link.start <= link.end <= len(text)
        if ordered:
            assert end <= link.start  # in order, none counted twice
            end = link.end
        _assert_stored_or_refused(link.url)


@given(chat_text, st.lists(st.tuples(st.integers(-5, 80), st.integers(-5, 80)), max_size=3))
def test_links_in_any_chat_text_are_http_links_as_written_and_stored_or_refused(
    text: str, spans: list[tuple[int, int]]
) -> None:
    found = find_urls(text)
    _assert_http_links_in(text, found, ordered=True)
    for link in found:
        assert text[link.start : link.end] == link.url  # the reply quotes what was written
        # Posted alone, the link is found whole: the same link whatever surrounds it, but for
        # punctuation linkify-it lets a link end with only when more follows ("…#frag![").
        alone = [f.url for f in find_urls(link.url)]
        assert len(alone) == 1 and link.url.startswith(alone[0])
        assert all(unicodedata.category(c).startswith("P") for c in link.url[len(alone[0]) :])
    # Telegram's entities as tdlib marks them, and entities with any offsets (a client or a
    # Bot API bug may send them past the text or overlapping): links inside the message.
    tdlib = [
        Entity(e["type"], e["offset"], e["length"], e.get("url")) for e in detect_entities(text)
    ]
    _assert_http_links_in(text, find_urls(text, tdlib), ordered=True)
    odd = [Entity("url", offset, length) for offset, length in spans]
    _assert_http_links_in(text, find_urls(text, odd), ordered=False)
    # `/short <word>`: each word is a link as written (a bare domain gets https://) or none.
    for word in text.split():
        link = link_in_argument(word)
        if link is not None:
            assert link in word or link.startswith("https://")
            _assert_stored_or_refused(link)


_PLAIN_PIECES = "aZ09.-_~!$&'()*+,;=:@"  # what the fast path may take as it is
# One of these among plain characters is what a fast path that takes too much would miss.
_ODD_PIECES = [*'%/?#[] "<>^`{|}\\é中', "%2f", "%7E", "%zz", ".", "..", "?", ""]


def _pieces(max_size: int) -> st.SearchStrategy[str]:
    """Plain text (the fast path's), plain text around one odd piece, or odd pieces only."""
    plain = st.text(alphabet=_PLAIN_PIECES, max_size=max_size)
    odd = st.sampled_from(_ODD_PIECES)
    return (
        plain
        | st.builds(lambda a, b, c: a + b + c, plain, odd, plain)
        | odd
        | st.lists(odd, max_size=3).map("".join)
    )


@given(
    scheme=st.sampled_from(["https"] * 6 + ["http", "HTTPS"]),
    host=st.sampled_from(["example.com", "a", "a-1.b2", "127.0.0.1", "xn--fsq.com"])
    | st.text(alphabet="abX09-.", min_size=1, max_size=12),
    port=st.sampled_from([""] * 6 + [":80", ":443", ":8080"]),
    path=st.lists(_pieces(6), max_size=4),
    query=st.none() | _pieces(10),
)
def test_a_redirect_s_location_is_what_yarl_makes_of_the_link(
    scheme: str, host: str, port: str, path: list[str], query: str | None
) -> None:
    """The Location header skips yarl only for links yarl gives back unchanged."""
    url = f"{scheme}://{host}{port}" + "".join("/" + segment for segment in path)
    if query is not None:
        url += "?" + query
    try:
        expected = str(URL(url))
    except ValueError:
        return  # refused when the link is shortened (see `Links.admit`)
    assert location_header(url) == expected

"""What the fuzz targets share: hypothesis strategies for what strangers send (chat text that
is mostly links, commands and the punctuation around them, JSON of any shape, JSON that is
almost what a platform sends), and a core that records what an adapter hands it.

Random Unicode alone almost never spells "https://"; the pieces below are the ones our link,
command and mention rules look at, glued together in any order with random text between.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from bot.model import IncomingMessage, Reply

# What link finding, command parsing and mention stripping react to: schemes (any case),
# hosts (IDN, punycode, IP literals, look-alikes), ports, paths, brackets and CJK sentence
# punctuation, emoji, markdown emphasis, mentions and slashes (full-width too).
_PIECES = (
    "https://",
    "http://",
    "HTTPS://",
    "hTTp://",
    "ftp://",
    "mailto:",
    "//",
    "www.",
    "example.com",
    "例子.中国",
    "xn--fsq.com",
    "bücher.de",
    "аррӏе.com",
    "127.0.0.1",
    "[2001:db8::1]",
    "[::1]",
    "0x7f.1",
    "suo.test",
    ".cn",
    ".",
    "-",
    "_",
    ":8080",
    ":99999",
    ":",
    "/",
    "/a/b",
    "?q=1&x=",
    "#frag",
    "%",
    "%zz",
    "%e4%bd%a0",
    "@",
    "user:pw@",
    "\\",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    '"',
    "'",
    "`",
    "*",
    "**",
    "~~",
    "看这个",
    "，",
    "。",
    "（",
    "）",
    "「",
    "」",
    "——",
    "…",
    "·",
    "👉",
    "👈",
    "🇨🇳",
    "\u200d",
    "\ufe0f",
    "\u202e",
    " ",
    "\n",
    "\t",
    "\u3000",
    "\x00",
    "／",
    "/short",
    "/help",
    "/qr",
    "/stats",
    "/top",
    "/settings",
    "/live",
    "/digest",
    "/bind",
    "/delete",
    "/mine",
    "@suo_test_bot",
    "@快缩短",
    "帮助",
    "short",
    "on",
    "off",
    "auto",
    "zh",
    "en",
    "09:00",
    "-1",
    "0",
    "99999999999999999999",
)

# Single characters between the pieces: letters and digits of the scripts links are written
# in, and the separators that end them.
_CHARACTERS = (*"aZ09-_.~=+!$&',;:/?#[]@%xé中あ한ß", "\u0130", "\u03a3", "\U0001d400")


def _spelled(number: int) -> str:
    """`number` written in base len(_WORDS), each digit one piece: an integer is one choice
    for hypothesis (fast to draw; a text of 24 drawn pieces took it 10 ms an example), and
    shrinking it toward 0 leaves fewer, earlier pieces."""
    words = []
    while number:
        number, digit = divmod(number, len(_WORDS))
        words.append(_WORDS[digit])
    return "".join(words)


_WORDS = _PIECES + _CHARACTERS
# Chat text: pieces, then any text (control characters, surrogates' neighbours, RTL...), then
# pieces again.
chat_text = st.builds(
    lambda before, middle, after: _spelled(before) + middle + _spelled(after),
    st.integers(0, 2**160),
    st.text(max_size=8),
    st.integers(0, 2**96),
)

# Any JSON value: what a body may hold once it parses.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=16)
    | chat_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """`document` (JSON) with a few of its values replaced by any JSON or left out: the shape
    a platform sends, but with fields of the wrong type, missing, or out of range."""
    if isinstance(document, dict):
        out: dict[str, Any] = {}
        for key, value in document.items():
            action = draw(st.sampled_from(("keep", "keep", "keep", "recurse", "drop", "any")))
            if action == "drop":
                continue
            out[key] = (
                draw(json_values)
                if action == "any"
                else draw(mutated(value))
                if action == "recurse"
                else value
            )
        return out
    if isinstance(document, list):
        return [draw(mutated(item)) for item in document]
    return draw(st.one_of(st.just(document), json_values)) if draw(st.booleans()) else document


class RecordingCore:
    """Stands in for `bot.core.Core` behind an adapter under fuzz: answers every message at
    once (the core's own handling is fuzzed in test_fuzz_commands), and keeps what it got."""

    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []

    async def handle(self, message: IncomingMessage) -> list[Reply]:
        self.messages.append(message)
        return [Reply(f"seen {len(message.urls)} links, {len(message.images)} images")]

    async def group_language(self, platform: str, chat_id: str, title: str) -> str:
        return "en"

    def help_text(self, lang: str, platform: str) -> str:
        return "help"

    def menu(self, platform: str, lang: str | None = None) -> list[object]:
        return []

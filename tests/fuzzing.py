"""What the fuzz targets share: hypothesis strategies for what strangers send (chat text that
is mostly links, commands and the punctuation around them, JSON of any shape, JSON that is
almost what a platform sends), and a core that records what an adapter hands it.

Random Unicode alone almost never spells "https://"; the pieces below are the ones our link,
command and mention rules look at, glued together in any order with random text between.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from bot.model import IncomingMessage, Reply

# What link finding, command parsing and mention stripping react to: schemes (any case),
# hosts (IDN, punycode, IP literals, look-alikes), ports, paths, brackets and CJK sentence
# punctuation, emoji, markdown emphasis, mentions and slashes (full-width too).
# fmt: off
_PIECES = (
    "https://", "http://", "HTTPS://", "hTTp://", "ftp://", "mailto:", "//", "www.",
    "example.com", "例子.中国", "xn--fsq.com", "bücher.de", "аррӏе.com", "127.0.0.1",
    "[2001:db8::1]", "[::1]", "0x7f.1", "suo.test", ".cn", ".", "-", "_", ":8080", ":99999",
    ":", "/", "/a/b", "?q=1&x=", "#frag", "%", "%zz", "%e4%bd%a0", "@", "user:pw@", "\\",
    "(", ")", "[", "]", "<", ">", '"', "'", "`", "*", "**", "~~", "看这个", "，", "。",
    "（", "）", "「", "」", "——", "…", "·", "👉", "👈", "🇨🇳", "\u200d", "\ufe0f",
    "\u202e", " ", "\n", "\t", "\u3000", "\x00", "／", "/short", "/help", "/qr", "/stats",
    "/top", "/settings", "/live", "/digest", "/bind", "/delete", "/mine", "@suo_test_bot",
    "@快缩短", "帮助", "short", "on", "off", "auto", "zh", "en", "09:00", "-1", "0",
    "99999999999999999999",
)
# fmt: on

# Single characters between the pieces: letters and digits of the scripts links are written
# in, and the separators that end them.
_CHARACTERS = (*"aZ09-_.~=+!$&',;:/?#[]@%xé中あ한ß", "\u0130", "\u03a3", "\U0001d400")
_WORDS = _PIECES + _CHARACTERS

# Hypothesis spends about a millisecond on each value it draws (more on a busy CI box), so a
# text of 24 drawn pieces cost 10 ms an example. These strategies draw one integer where they
# can and spell it out: `number` in base N, each digit one choice. Shrinking the integer toward
# 0 leaves fewer, earlier choices, so failing examples still come out small.


def _digits(number: int, base: int) -> Iterator[int]:
    """The digits of `number` in `base`, least significant first, then 0 for ever."""
    while True:
        number, digit = divmod(number, base)
        yield digit


def _spelled(number: int) -> str:
    words = []
    while number:
        number, digit = divmod(number, len(_WORDS))
        words.append(_WORDS[digit])
    return "".join(words)


def _chat_text(pieces: int, middle: str) -> str:
    before, after = divmod(pieces, 2**96)
    return _spelled(before) + middle + _spelled(after)


# Chat text: pieces, then any text (control characters, RTL marks, astral planes...), then
# pieces again.
chat_text = st.builds(_chat_text, st.integers(0, 2**256), st.text(max_size=8))

# JSON values of the types and ranges that break parsers: wrong types, empty containers,
# integers past 32 and 64 bits, huge floats, look-alike ids.
# fmt: off
_ODD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1.5, -0.0, 2**31, -(2**63), 2**64, 1e300, -1e300, "", "0", "x",
    "\u202e", "private", "group", "url", "image", "text", "mixed", [], [None], [[]], [{}], {},
    {"": None}, {"id": 1}, {"type": "private"}, {"msgtype": "text"}, {"content": 1},
)
# fmt: on
_CHANGES = 6  # ways a node changes: left out, three odd values, wrapped, retyped


def _odd_value(choice: int, text: str) -> Any:
    return text if choice % 4 == 0 else _ODD_VALUES[choice % len(_ODD_VALUES)]


# Any JSON value: what a body may hold once it parses.
json_values = st.builds(_odd_value, st.integers(0, 2**16), chat_text) | st.builds(
    lambda n, t: [_odd_value(n, t), {t: _odd_value(n >> 8, t)}], st.integers(0, 2**16), chat_text
)

_DROP = object()


def _mutate(node: Any, plan: Iterator[int], text: str, stay: int) -> Any:
    change = next(plan) - stay  # a digit below `stay` (0 too: shrunk plans) keeps the node
    if change == 0:
        return _DROP
    if change in (1, 2, 3):
        return _odd_value(next(plan), text)
    if change == 4:
        return [node]  # an object where a list belongs, or the other way
    if change == 5:
        return str(node) if not isinstance(node, str) else {"": node}
    if isinstance(node, dict):
        mutated_items = ((k, _mutate(v, plan, text, stay)) for k, v in node.items())
        return {k: v for k, v in mutated_items if v is not _DROP}
    if isinstance(node, list):
        changed = (_mutate(item, plan, text, stay) for item in node)
        return [v for v in changed if v is not _DROP]
    return node


def mutated(document: Any, *, one_node_in: int = 5) -> st.SearchStrategy[Any]:
    """`document` (JSON) with some of its values left out, replaced by odd JSON or chat text,
    or wrapped: the shape a platform sends, with fields missing, of the wrong type or out of
    range: one node in `one_node_in` changes. One integer is the plan, a digit per node."""

    def apply(plan: int, text: str) -> Any:
        stay = _CHANGES * (one_node_in - 1)
        out = _mutate(document, _digits(plan, _CHANGES * one_node_in), text, stay)
        return {} if out is _DROP else out

    return st.builds(apply, st.integers(0, 2**320), chat_text)


class RecordingCore:
    """Stands in for `bot.core.Core` behind an adapter under fuzz: answers every message at
    once (the core's own handling is fuzzed in test_fuzz_commands), and keeps what it got."""

    def __init__(self, *, answer: bool = True) -> None:
        self.messages: list[IncomingMessage] = []
        self._answer = answer  # False: no reply to send (no Bot API call per example)

    async def handle(self, message: IncomingMessage) -> list[Reply]:
        self.messages.append(message)
        if not self._answer:
            return []
        return [Reply(f"seen {len(message.urls)} links, {len(message.images)} images")]

    async def group_language(self, platform: str, chat_id: str, title: str) -> str:
        return "en"

    def help_text(self, lang: str, platform: str) -> str:
        return "help"

    def menu(self, platform: str, lang: str | None = None) -> list[object]:
        return []

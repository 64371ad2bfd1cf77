"""What the CJK rules around linkify-it cost: find_urls against linkify-it's own match().

Prints, per kind of message (4096 characters, Telegram's limit), both times and their ratio.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from linkify_it import LinkifyIt

from bot.urls import find_urls

LIMIT = 4096
MESSAGES = {
    "chat with links": "活动报名 https://example.com/signup?id=42，速来 看这个 "
    "https://zh.wikipedia.org/wiki/上海 不错 ",
    "links glued to CJK": "看https://a.example/路径，",
    "host glued to kana": "http://example.comだよね ",
    "chatter, no links": "大家早上好，今天天气不错。",
    "English prose": "See (https://en.wikipedia.org/wiki/Foo_(bar)) and https://example.com/a. ",
    "open parentheses": "https://example.com/" + "(" * 64,
}


def per_call(function: Callable[[str], object], text: str, budget: float = 0.5) -> float:
    """Seconds per call, from at most 500 calls or `budget` seconds."""
    calls = 0
    started = time.perf_counter()
    while calls < 500 and time.perf_counter() - started < budget:
        function(text)
        calls += 1
    return (time.perf_counter() - started) / calls


def main() -> None:
    library = LinkifyIt(options={"fuzzy_ip": True})
    print(f"{'message':22} {'find_urls':>10} {'linkify-it':>10} {'ratio':>6}")
    for name, unit in MESSAGES.items():
        text = (unit * (LIMIT // len(unit) + 1))[:LIMIT]
        ours = per_call(find_urls, text)
        theirs = per_call(library.match, text)
        print(f"{name:22} {ours * 1e3:8.2f}ms {theirs * 1e3:8.2f}ms {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()

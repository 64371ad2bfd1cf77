"""Who counts as a reader: bot lists compared on real User-Agent corpora, with their cost.

Rates: crawlers counted human (crawler-user-agents' instances, Matomo's bots.yml) and browsers
counted bot (Matomo's browser fixtures); cost per UA: cold for a short and an 8 KB UA (the
libraries get its first 512 characters, as the redirector would give them), and cached.

    python benchmarks/classify.py [--browsers-every 1] [--repeat 200]

Needs the `bench` extra (pip install -e '.[bench]'); a list that is not installed is skipped.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.model import ClickClass
from redirector.classify import MATCHED_CHARS, classify_user_agent
from tests import ua_corpora

IsBot = Callable[[str], bool]
SHORT_UA = (
    "Mozilla/5.0 (Linux; Android 13; SM-G{n:05d}B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.{n}.0 Mobile Safari/537.36"
)
LONG_UA_BYTES = 8192


def long_user_agent(n: int, size: int = LONG_UA_BYTES) -> str:
    """A made-up UA of `size` characters: a browser's, then product tokens, unique by `n`."""
    head = SHORT_UA.format(n=n)
    tail = "".join(f" Ext{i}/{n}.{i} (k{i}; v{n})" for i in range(size // 16))
    return (head + tail)[:size]


def suo_is_bot(ua: str) -> bool:
    return classify_user_agent(ua)[0] is not ClickClass.HUMAN


def candidates() -> Iterator[tuple[str, IsBot, str]]:
    """(name, is it a bot?, note) for each list that is installed, ours first."""
    yield "suo (is-bot + ours)", suo_is_bot, "previewers, no-engine rule, 512 chars, cache"
    try:
        from is_bot import Bots
    except ImportError:
        print("skipping is-bot: not installed", file=sys.stderr)
    else:
        yield "is-bot", Bots().is_bot, "isbot's patterns; its tests use both crawler lists"
    try:
        from crawlerdetect import CrawlerDetect
    except ImportError:
        print("skipping crawlerdetect: not installed", file=sys.stderr)
    else:
        detector = CrawlerDetect()
        # _check_crawler is is_crawler without its per-instance cache: cold cost.
        yield "crawlerdetect", lambda ua: detector._check_crawler(ua)[0], "JayBizzle's patterns"
    try:
        from ua_parser import Domain, load_builtins
        from ua_parser.regex import Resolver
    except ImportError:
        print("skipping ua-parser: not installed (with ua-parser-rs)", file=sys.stderr)
    else:
        resolver = Resolver(load_builtins())

        def spider(ua: str) -> bool:
            device = resolver(ua, Domain.DEVICE).device
            return device is not None and device.family == "Spider"

        yield "ua-parser-rs", spider, "uap-core device 'Spider'"
    try:
        from device_detector import DeviceDetector
    except ImportError:
        print("skipping device-detector: not installed", file=sys.stderr)
    else:

        def matomo(ua: str) -> bool:
            found = DeviceDetector(ua, skip_device_detection=True, check_cache=False)
            return bool(found.parse().is_bot())

        yield "device-detector", matomo, "Matomo's lists: its own fixtures are the corpora"
    try:
        import crawleruseragents
    except ImportError:
        print("skipping crawler-user-agents: not installed", file=sys.stderr)
    else:
        yield (
            "crawler-user-agents",
            crawleruseragents.is_crawler,
            "monperrus' patterns: its own instances are a corpus",
        )


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    crawlers_human: float
    matomo_bots_human: float
    browsers_bot: float
    short_us: float
    long_us: float
    note: str


def share(user_agents: tuple[str, ...], wrong: Callable[[str], bool]) -> float:
    return sum(1 for ua in user_agents if wrong(ua)) / len(user_agents)


def cold_us(is_bot: IsBot, make: Callable[[int], str], repeat: int, start: int) -> float:
    """Median microseconds per call, each on a UA never seen before (no cache can answer)."""
    times = []
    for n in range(start, start + repeat):
        ua = make(n)
        began = time.perf_counter()
        is_bot(ua)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e6


def measure(name: str, is_bot: IsBot, note: str, args: argparse.Namespace, seed: int) -> Row:
    crawlers = ua_corpora.crawler_instances()
    bots = ua_corpora.matomo_bots()
    browsers = ua_corpora.matomo_browsers()[:: args.browsers_every]
    ours = name.startswith("suo")

    def long(n: int) -> str:
        ua = long_user_agent(n)
        return ua if ours else ua[:MATCHED_CHARS]  # the libraries get what we would give them

    return Row(
        name,
        share(crawlers, lambda ua: not is_bot(ua)),
        share(bots, lambda ua: not is_bot(ua)),
        share(browsers, is_bot),
        cold_us(is_bot, lambda n: SHORT_UA.format(n=n), args.repeat, seed),
        cold_us(is_bot, long, args.repeat, seed),
        note,
    )


def cached_us(repeat: int) -> float:
    ua = long_user_agent(0)
    classify_user_agent(ua)
    began = time.perf_counter()
    for _ in range(repeat):
        classify_user_agent(ua)
    return (time.perf_counter() - began) / repeat * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--browsers-every", type=int, default=1, help="use every Nth browser UA (1: all 34k)"
    )
    parser.add_argument("--repeat", type=int, default=200, help="UAs timed per cost figure")
    args = parser.parse_args(argv)
    if args.browsers_every < 1 or args.repeat < 1:
        parser.error("--browsers-every and --repeat must be at least 1")

    crawlers = ua_corpora.crawler_instances()
    bots = ua_corpora.matomo_bots()
    browsers = ua_corpora.matomo_browsers()[:: args.browsers_every]
    print(
        f"corpora: {len(crawlers)} crawler-user-agents instances, {len(bots)} Matomo bots, "
        f"{len(browsers)} Matomo browsers; cost: median of {args.repeat} unseen UAs, short "
        f"{len(SHORT_UA.format(n=0))} chars, long {LONG_UA_BYTES} chars"
    )
    header = (
        f"{'list':<22}{'crawlers':>10}{'Matomo':>9}{'browsers':>10}"
        f"{'short us':>10}{'8KB us':>9}   note"
    )
    print(header)
    print(f"{'':<22}{'as human':>10}{'bots hum':>9}{'as bot':>10}")
    print("-" * len(header))
    for number, (name, is_bot, note) in enumerate(candidates(), start=1):
        row = measure(name, is_bot, note, args, seed=number * args.repeat)
        print(
            f"{row.name:<22}{row.crawlers_human:>10.2%}{row.matomo_bots_human:>9.2%}"
            f"{row.browsers_bot:>10.2%}{row.short_us:>10.0f}{row.long_us:>9.0f}   {row.note}"
        )
    engined = tuple(ua for ua in browsers if "Mozilla/" in ua)
    print(
        f"suo: browsers that say Mozilla/ counted bot: {share(engined, suo_is_bot):.2%} of "
        f"{len(engined)}; the rest of its browsers counted bot send no browser engine token "
        "(mostly Android's bare Dalvik HTTP client)"
    )
    print(f"suo, cached verdict (8 KB UA): {cached_us(args.repeat * 100):.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Click ingest speed: 1,000,000 clicks through the store's add_clicks in the click recorder's
batch size (500), on SQLite (a temporary file) and on PostgreSQL (a database it creates and
drops), printing clicks/s per engine and their ratio.

    python benchmarks/ingest.py [--clicks 1000000] [--batch 500] [--links 1000]
        [--postgres postgresql://postgres@127.0.0.1:5432] [--no-postgres]

Only the add_clicks calls are timed (building the batches is not). The clicks look like the
redirector's: 80% human, 15% previews, 5% bots, over a week, a few thousand visitors a day.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's code

from bot.model import Click, ClickClass
from bot.storage import Store, open_store

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SEED = 20261203
MAX_CLICKS = 10_000_000  # bounded: the run stays minutes, the disk a few GB at most
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PLATFORMS = ("wechat", "wechat", "wecom", "qq", "ios", "android", "desktop", "telegram")


async def make_links(store: Store, links: int) -> list[str]:
    codes: list[str] = []
    for g in range(10):
        group = await store.upsert_group("telegram", f"-100{g}", f"group {g}")
        for n in range(links // 10):
            code = f"g{g}l{n}"
            await store.create_link(code, f"https://example.com/{g}/{n}", group.id, None, NOW)
            codes.append(code)
    return codes


def batches(codes: list[str], clicks: int, size: int) -> Iterator[list[Click]]:
    """Clicks in time order over the week before NOW, `size` at a time."""
    rng = random.Random(SEED)
    start_ms = int((NOW - timedelta(days=7)).timestamp() * 1000)
    step_ms = 7 * 86_400_000 / clicks
    for first in range(0, clicks, size):
        batch = []
        for n in range(first, min(first + size, clicks)):
            roll = rng.random()
            klass = ClickClass.HUMAN if roll < 0.8 else ClickClass.PREVIEW
            klass = ClickClass.BOT if roll >= 0.95 else klass
            platform = rng.choice(PLATFORMS) if klass is ClickClass.HUMAN else klass.value
            day = n * 7 // clicks
            visitor = f"d{day}-{rng.randrange(3000)}"
            code = codes[min(int(rng.paretovariate(1.1)) - 1, len(codes) - 1)]
            batch.append(
                Click(n + 1, code, start_ms + int(n * step_ms), klass, platform, "", visitor)
            )
        yield batch


async def ingest(store: Store, clicks: int, size: int, links: int) -> float:
    """Seconds spent in add_clicks for `clicks` clicks."""
    codes = await make_links(store, links)
    spent = 0.0
    done = 0
    for batch in batches(codes, clicks, size):
        t = time.perf_counter()
        done += await store.add_clicks(batch)
        spent += time.perf_counter() - t
        if done % 200_000 == 0:
            print(f"  {done:,} clicks ({done / spent:,.0f}/s)", flush=True)
    if done != clicks:
        raise RuntimeError(f"stored {done:,} of {clicks:,} clicks: the figures would be wrong")
    return spent


@asynccontextmanager
async def fresh_postgres(server: str) -> AsyncIterator[str]:
    """A new database on `server` (loopback only) for this run, dropped after it."""
    import asyncpg

    host = urlsplit(server).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"--postgres must be a loopback server, not {host!r}")
    admin = await asyncpg.connect(f"{server.rstrip('/')}/postgres", timeout=5)
    name = f"suo_ingest_{secrets.token_hex(4)}"
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{server.rstrip('/')}/{name}"
        finally:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await admin.close()


async def run_engine(url: str, args: argparse.Namespace) -> float:
    store = await open_store(url)
    try:
        return await ingest(store, args.clicks, args.batch, args.links)
    finally:
        await store.close()


async def main_async(args: argparse.Namespace) -> int:
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="suo-ingest-") as tmp:
        print(f"sqlite: {args.clicks:,} clicks in batches of {args.batch}")
        seconds = await run_engine(f"sqlite:///{Path(tmp) / 'ingest.db'}", args)
        rates["sqlite"] = args.clicks / seconds
    if not args.no_postgres:
        async with fresh_postgres(args.postgres) as url:
            print(f"postgresql: {args.clicks:,} clicks in batches of {args.batch}")
            seconds = await run_engine(url, args)
            rates["postgresql"] = args.clicks / seconds
    print()
    print(f"{'engine':<12}{'clicks':>12}{'seconds':>10}{'clicks/s':>12}")
    for engine, rate in rates.items():
        print(f"{engine:<12}{args.clicks:>12,}{args.clicks / rate:>10.1f}{rate:>12,.0f}")
    if len(rates) == 2:
        print(f"postgresql / sqlite: {rates['postgresql'] / rates['sqlite']:.2f}x")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500, help="the recorder's batch size")
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.clicks <= MAX_CLICKS or not 0 < args.batch <= 10_000:
        parser.error(f"--clicks 1..{MAX_CLICKS:,} and --batch 1..10,000")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

"""Telegram update-in to reply-out latency: real PTB polling a local fake Bot API on loopback.

Run: python benchmarks/telegram_latency.py [--links 200] [--photos 40]
Measures, per message kind, the time from the update being queued at the fake server to the
bot's reply (sendPhoto) being answered there: long poll wake-up, PTB parsing, the core
(SQLite write, QR render or decode), multipart upload. Prints p50/p95/max in ms.

Messages come from separate groups and are paced (--interval) below Telegram's limits, which
the bot's rate limiter enforces (30 messages/s overall, 20 a minute per group): sent
back to back, the limiter's spacing (33 ms) would be measured instead of the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from bot.config import parse_config  # noqa: E402
from suo.app import Suo  # noqa: E402
from tests.fake_telegram import FakeBotApi  # noqa: E402
from tests.telegram_builders import group_photo_update, group_text_update, url_entities  # noqa: E402

TOKEN = "123:bench"
PHOTO = REPO.parent / "shared" / "qr-photos" / "zxing-qrcode-1" / "1.png"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    api: FakeBotApi, updates: list[dict[str, object]], timeout: float, interval: float
) -> list[float]:
    latencies = []
    for update in updates:
        await asyncio.sleep(interval)
        before = len(api.calls_to("sendPhoto"))
        start = time.perf_counter()
        api.push_update(update)
        await api.wait_for_call("sendPhoto", count=before + 1, timeout=timeout)
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


async def main(links: int, photos: int, interval: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeBotApi(token=TOKEN, can_read_all_group_messages=True) as api:
            config = parse_config(
                {
                    "server": {"public_url": "https://suo.test"},
                    "storage": {"url": f"sqlite:///{tmp}/bench.db"},
                    "clicks": {"spill_path": f"{tmp}/spill.jsonl"},
                    "telegram": {
                        "token": TOKEN,
                        "api_base_url": api.base_url,
                        "file_base_url": api.file_base_url,
                    },
                },
                env={},
            )
            suo = await Suo.open(config)
            await suo.start()
            try:
                warm = "https://example.com/warm-up"
                await measure(api, [group_text_update(warm, entities=url_entities(warm))], 30, 0)
                link_updates = []
                for i in range(links):
                    text = f"第{i}期活动 https://example.com/events/{i}?from=group 欢迎报名"
                    # One group each: the rate limiter rightly holds a single group to
                    # Telegram's 20 messages a minute, which would measure the limit instead.
                    link_updates.append(
                        group_text_update(text, entities=url_entities(text), chat_id=-1000 - i)
                    )
                results = {"link message": await measure(api, link_updates, 30, interval)}
                if PHOTO.exists():
                    png = io.BytesIO()
                    Image.open(PHOTO).save(png, "PNG")
                    sizes = api.add_photo(
                        png.getvalue()
                    )  # a real phone photo, as Telegram stores it
                    photo_updates = [
                        group_photo_update(sizes, chat_id=-5000 - i) for i in range(photos)
                    ]
                    results["QR photo (640x480)"] = await measure(api, photo_updates, 60, interval)
                else:
                    print(f"(no QR photos at {PHOTO.parent}: photo case skipped)")
            finally:
                await suo.stop()
                await suo.shutdown()
    print(f"{'message':<22}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, values in results.items():
        print(
            f"{name:<22}{len(values):>6}{statistics.median(values):>10.1f}"
            f"{percentile(values, 0.95):>10.1f}{max(values):>10.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=200)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between messages")
    args = parser.parse_args()
    asyncio.run(main(args.links, args.photos, args.interval))

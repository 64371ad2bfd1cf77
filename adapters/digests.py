"""Digest delivery per platform: a Telegram photo and caption, a WeCom group robot's markdown
and image, or the console.

Each channel says whether a group can receive digests at all and cuts one digest into the
messages the platform takes; the digest service claims, retries and records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from telegram.error import Forbidden

from adapters.telegram import TelegramAdapter, fits_caption
from adapters.wecom_webhook import WeComGroupPusher
from bot.bindings import GroupRobots
from bot.model import Group, ReplyImage
from bot.scheduler import NoChannel, Send

log = logging.getLogger(__name__)


class TelegramDigests:
    def __init__(self, telegram: TelegramAdapter) -> None:
        self._telegram = telegram

    async def reaches(self, group: Group) -> bool:
        # Group and supergroup ids are negative; a private chat with the bot gets no digest.
        return group.chat_id.startswith("-")

    def sends(self, group: Group, text: str, chart: bytes | None) -> Sequence[Send]:
        telegram, chat_id = self._telegram, group.chat_id
        if chart is None:
            return [_unless_removed(lambda: telegram.post_text(chat_id, text))]
        image = ReplyImage(chart, "digest.png", group.title, "chart")
        if fits_caption(text):
            return [_unless_removed(lambda: telegram.post_photo(chat_id, image, text))]
        # Over the 1,024-character caption limit: the chart under the title, then the text.
        title, _, body = text.partition("\n")
        caption = title if fits_caption(title) else ""
        return [
            _unless_removed(lambda: telegram.post_photo(chat_id, image, caption)),
            _unless_removed(lambda: telegram.post_text(chat_id, body or text)),
        ]


def _unless_removed(send: Send) -> Send:
    """Forbidden: the bot was removed from the group; retrying cannot help."""

    async def sending() -> None:
        try:
            await send()
        except Forbidden as e:
            raise NoChannel(type(e).__name__) from e

    return sending


# WeCom markdown would turn a member named "[红包](https://…)" into a link in the bot's own
# message: the digest is plain text, so its markup characters are shown as full-width twins.
_MARKDOWN_TWINS = str.maketrans("[]()<>*`#", "［］（）＜＞＊｀＃")


def plain_markdown(text: str) -> str:
    return text.translate(_MARKDOWN_TWINS)


class WeComDigests:
    """Through the group robot bound with `bind`; an unbound group gets nothing."""

    def __init__(self, robots: GroupRobots, pusher: WeComGroupPusher) -> None:
        self._robots = robots
        self._pusher = pusher

    async def reaches(self, group: Group) -> bool:
        return await self._robots.webhook_key(group.id) is not None

    def sends(self, group: Group, text: str, chart: bytes | None) -> Sequence[Send]:
        """The markdown, then the chart: two sends, so a retry repeats only what failed."""
        pusher = self._pusher

        def push(markdown: str, images: Sequence[bytes]) -> Send:
            async def sending() -> None:
                if not await pusher.push(group.id, markdown, images):
                    raise NoChannel(group.id)

            return sending

        parts = [push(plain_markdown(text), ())]
        if chart is not None:
            parts.append(push("", (chart,)))
        return parts


class ConsoleDigests:
    """`suo run` without a platform: the digest is printed and its chart saved beside the QRs."""

    def __init__(self, write: Callable[[str], None], chart_dir: Path) -> None:
        self._write = write
        self._chart_dir = chart_dir

    async def reaches(self, group: Group) -> bool:
        return True

    def sends(self, group: Group, text: str, chart: bytes | None) -> Sequence[Send]:
        async def show() -> None:
            self._write(text)
            if chart is not None:
                path = self._chart_dir / f"digest-{group.id}.png"
                await asyncio.to_thread(self._save, path, chart)
                self._write(f"[chart] {path}")

        return [show]

    def _save(self, path: Path, png: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)

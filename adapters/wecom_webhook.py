"""WeCom group robots (群机器人): pushes the bot sends on its own (digests, reminders).

Owns the webhook's limits: text 2,048 bytes, markdown 4,096 bytes, images 2 MB as base64 +
md5, 20 messages a minute per key; errcode 45009 means "later", 93000 an invalid key.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter

from bot.bindings import GroupRobots

log = logging.getLogger(__name__)

TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
IMAGE_MAX_BYTES = 2 * 1024 * 1024
PER_MINUTE = 20
ERR_FREQUENCY = 45009
ERR_INVALID_KEY = 93000
# Robots whose limiter is kept. One idle for a minute has an empty bucket anyway, so dropping
# the least recently used loses nothing unless this many robots spoke within one minute.
LIMITERS_KEPT = 1024


def robot_limiter() -> AsyncLimiter:
    """WeCom counts 20 messages in any 60 s. A leaky bucket lets through at most its size plus
    what leaks in the window: 10 at once, then one every 6 s, never more than 20 a minute.
    (AsyncLimiter(20, 60) would allow 20 at once and 20 more within that minute.)"""
    return AsyncLimiter(PER_MINUTE // 2, 60)


class WebhookError(Exception):
    pass


class WebhookRetryLater(WebhookError):
    """WeCom said 45009 (too frequent): keep the message and send it later."""


class InvalidWebhookKey(WebhookError):
    """The key was deleted or never existed: unbind it and tell the group's admins."""


def fit_bytes(text: str, limit: int) -> str:
    """`text` cut (at a character boundary, with an ellipsis) to at most `limit` UTF-8 bytes."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - len("…".encode())].decode(errors="ignore") + "…"


class WeComWebhook:
    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        base_url: str,
        *,
        limiter: Callable[[], AsyncLimiter] = robot_limiter,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._new_limiter = limiter
        self._limiters: OrderedDict[str, AsyncLimiter] = OrderedDict()

    async def send_text(self, key: str, content: str) -> None:
        await self._send(
            key, {"msgtype": "text", "text": {"content": fit_bytes(content, TEXT_MAX_BYTES)}}
        )

    async def send_markdown(self, key: str, content: str) -> None:
        body = {"markdown": {"content": fit_bytes(content, MARKDOWN_MAX_BYTES)}}
        await self._send(key, {"msgtype": "markdown", **body})

    async def send_image(self, key: str, png: bytes) -> None:
        if len(png) > IMAGE_MAX_BYTES:
            raise WebhookError(f"image is {len(png)} bytes, over the 2 MB webhook limit")
        image = {
            "base64": base64.b64encode(png).decode(),
            "md5": hashlib.md5(png).hexdigest(),  # noqa: S324 - WeCom's checksum, not security
        }
        await self._send(key, {"msgtype": "image", "image": image})

    def _limiter(self, key: str) -> AsyncLimiter:
        """The robot's own limiter, the least recently used dropped past LIMITERS_KEPT."""
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = self._new_limiter()
            if len(self._limiters) > LIMITERS_KEPT:
                self._limiters.popitem(last=False)
        else:
            self._limiters.move_to_end(key)
        return limiter

    async def _send(self, key: str, payload: dict[str, Any]) -> None:
        await self._limiter(key).acquire()
        url = f"{self._base_url}/cgi-bin/webhook/send"
        try:
            async with self._session().post(url, params={"key": key}, json=payload) as resp:
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise WebhookRetryLater(f"webhook unreachable: {type(e).__name__}") from e
        errcode = int(data.get("errcode", -1)) if isinstance(data, dict) else -1
        if errcode == 0:
            return
        # Never log the key; the errcode is what an operator needs.
        log.warning("wecom webhook %s refused: errcode=%s", payload["msgtype"], errcode)
        if errcode == ERR_FREQUENCY:
            raise WebhookRetryLater("45009: too many messages, try later")
        if errcode == ERR_INVALID_KEY:
            raise InvalidWebhookKey("93000: invalid webhook key")
        raise WebhookError(f"errcode {errcode}")


class WeComGroupPusher:
    """Posts to a group through its bound robot; a dead key is marked for the admins."""

    def __init__(self, robots: GroupRobots, webhook: WeComWebhook) -> None:
        self._robots = robots
        self._webhook = webhook

    async def push(self, group_id: int, markdown: str, images: Sequence[bytes] = ()) -> bool:
        """True when sent; False when the group has no working robot (nothing to retry).

        An empty `markdown` sends only the images (so a retried image repeats no text)."""
        key = await self._robots.webhook_key(group_id)
        if key is None:
            return False
        try:
            if markdown:
                await self._webhook.send_markdown(key, markdown)
            for png in images:
                await self._webhook.send_image(key, png)
        except InvalidWebhookKey:
            await self._robots.mark_webhook_invalid(group_id)
            log.warning("wecom webhook key invalid, admins will be told group=%s", group_id)
            return False
        return True

"""QR photos: decode every code in a posted image and shorten the URLs found (chat, and the
web page's upload through `scan_image`).

Decoding runs off the event loop; size limits are checked before bytes are fetched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.admission import risk_label
from bot.context import Context
from bot.errors import UserError
from bot.links import Shortener, ShortLink, short_link_image
from bot.model import Group, ImageSource, Reply, ReplyImage
from bot.purposes import Purpose
from bot.qr import DecodedCode, decode_qr_codes, url_in_payload

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 20 * 1024 * 1024
_MAX_SHOWN_TEXT = 300
# Told each decode's seconds (from the decode's thread): the operator's decode-time histogram.
DecodeObserver = Callable[[float], None]


async def load_chat_image(ctx: Context, image: ImageSource) -> bytes:
    """A member's image as bytes: its size checked before anything is fetched, a failed
    download logged and answered as a UserError."""
    if image.size is not None and image.size > MAX_IMAGE_BYTES:
        raise UserError("image_too_large", "image_too_large", limit_mb=20)
    try:
        return await image.load()
    except UserError:
        raise
    except Exception as e:
        log.warning(
            "image download failed platform=%s chat=%s image=%s: %s",
            ctx.group.platform,
            ctx.group.chat_id,
            image.name,
            type(e).__name__,
        )
        raise UserError("image_unavailable", "image_unavailable") from e


class PhotoReplies:
    def __init__(
        self, shortener: Shortener, *, observe_decode: DecodeObserver | None = None
    ) -> None:
        self._shortener = shortener
        self._observe_decode = observe_decode

    async def reply_to_images(self, ctx: Context) -> list[Reply]:
        replies = []
        for image in ctx.message.images:
            try:
                replies.append(await self._reply_to_image(ctx, image))
            except UserError as e:
                log.info(
                    "image refused platform=%s chat=%s image=%s reason=%s",
                    ctx.group.platform,
                    ctx.group.chat_id,
                    image.name,
                    e.code,
                )
                replies.append(Reply(ctx.t(e.message_key, **e.params)))
        return replies

    async def _reply_to_image(self, ctx: Context, image: ImageSource) -> Reply:
        data = await load_chat_image(ctx, image)
        codes = await scan_image(
            self._shortener,
            ctx.group,
            ctx.sharer_id,
            data,
            observe_decode=self._observe_decode,
        )
        if not codes:
            return Reply(ctx.t("qr_none_found"))
        lines = [ctx.t("qr_found_header", count=len(codes))]
        images: list[ReplyImage] = []
        for index, code in enumerate(codes, start=1):
            lines.append(
                ctx.t("qr_item", index=index, kind=ctx.t(f"kind.{code.kind}"), text=code.shown)
            )
            if code.is_payment:
                lines.append("   " + ctx.t("qr_payment_warning"))
            elif code.refused is not None:
                lines.append("   " + ctx.t(code.refused.message_key, **code.refused.params))
            elif code.short is not None:
                lines.append(f"   → {code.short.short_url}")
                label = risk_label(code.short.risks, ctx.lang)
                if label:
                    lines.append("   " + label)
                images.append(await short_link_image(code.short))
        return Reply("\n".join(lines), images=tuple(images))


@dataclass(frozen=True, slots=True)
class ScannedCode:
    """One code read from an image and what came of it: a short link, a refusal, or neither
    (not a link, or a payment code, which is never shortened)."""

    text: str
    kind: str
    short: ShortLink | None = None
    refused: UserError | None = None

    @property
    def is_payment(self) -> bool:
        return self.kind == Purpose.PAYMENT

    @property
    def shown(self) -> str:
        """The text cut to a length a reply or a page can show."""
        if len(self.text) <= _MAX_SHOWN_TEXT:
            return self.text
        return self.text[:_MAX_SHOWN_TEXT] + "…"


async def scan_image(
    shortener: Shortener,
    group: Group,
    sharer_id: int | None,
    data: bytes,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    member_key: object = None,
    observe_decode: DecodeObserver | None = None,
) -> list[ScannedCode]:
    """Every code in the image, in reading order, with the group's short link for its URL.

    Decoding runs in a thread; a file the decoder refuses (too large, too many pixels,
    not an image) is a `UserError`."""
    codes = await asyncio.to_thread(_decode, data, max_bytes, observe_decode)
    scanned: list[ScannedCode] = []
    for code in codes:
        url = url_in_payload(code.text, code.kind)
        if code.kind == Purpose.PAYMENT or url is None:
            # A payment code pays whoever posted it; shortening would only spread it further.
            scanned.append(ScannedCode(code.text, code.kind))
            continue
        try:
            short = await shortener.shorten_in_group(group, sharer_id, url, member_key=member_key)
        except UserError as e:
            scanned.append(ScannedCode(code.text, code.kind, refused=e))
            continue
        scanned.append(ScannedCode(code.text, code.kind, short=short))
    return scanned


def _decode(data: bytes, max_bytes: int, observe: DecodeObserver | None) -> list[DecodedCode]:
    """`decode_qr_codes`, its time (refusals too) told to `observe`."""
    started = time.perf_counter()
    try:
        return decode_qr_codes(data, max_bytes=max_bytes)
    finally:
        if observe is not None:
            observe(time.perf_counter() - started)

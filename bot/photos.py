"""QR photos in chat: decode every code in a posted image and shorten the URLs found.

Decoding runs off the event loop; size limits are checked before bytes are fetched.
"""

from __future__ import annotations

import asyncio
import logging

from bot.admission import risk_label
from bot.context import Context
from bot.errors import UserError
from bot.links import Shortener, short_link_image
from bot.model import ImageSource, Reply, ReplyImage
from bot.purposes import Purpose
from bot.qr import decode_qr_codes, url_in_payload

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 20 * 1024 * 1024
_MAX_SHOWN_TEXT = 300


class PhotoReplies:
    def __init__(self, shortener: Shortener) -> None:
        self._shortener = shortener

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
        if image.size is not None and image.size > MAX_IMAGE_BYTES:
            raise UserError("image_too_large", "image_too_large", limit_mb=20)
        try:
            data = await image.load()
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
        codes = await asyncio.to_thread(decode_qr_codes, data, max_bytes=MAX_IMAGE_BYTES)
        if not codes:
            return Reply(ctx.t("qr_none_found"))
        lines = [ctx.t("qr_found_header", count=len(codes))]
        images: list[ReplyImage] = []
        for index, code in enumerate(codes, start=1):
            shown = (
                code.text
                if len(code.text) <= _MAX_SHOWN_TEXT
                else code.text[:_MAX_SHOWN_TEXT] + "…"
            )
            lines.append(
                ctx.t("qr_item", index=index, kind=ctx.t(f"kind.{code.kind}"), text=shown)
            )
            if code.kind == Purpose.PAYMENT:
                # Scanning pays whoever posted it; shortening would only spread it further.
                lines.append("   " + ctx.t("qr_payment_warning"))
                continue
            url = url_in_payload(code.text, code.kind)
            if url is None:
                continue
            try:
                short = await self._shortener.shorten_in_group(ctx.group, ctx.sharer_id, url)
            except UserError as e:
                lines.append("   " + ctx.t(e.message_key, **e.params))
                continue
            lines.append(f"   → {short.short_url}")
            label = risk_label(short.risks, ctx.lang)
            if label:
                lines.append("   " + label)
            images.append(await short_link_image(short))
        return Reply("\n".join(lines), images=tuple(images))

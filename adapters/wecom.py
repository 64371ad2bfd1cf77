"""WeCom (企业微信) adapter: the AI bot's (智能机器人) encrypted JSON callback, answered passively.

Owns WeCom's wire format: signature and AES via wechatpy (receiveid ""), replies signed with
the callback's own nonce, @-mention stripping, encrypted image downloads, stream replies with
images as base64 + md5 within WeCom's limits, the reply deadline (slow work is answered briefly
and followed up through response_url), msgid idempotency.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from wechatpy.crypto.base import WeChatCipher
from wechatpy.crypto.pkcs7 import PKCS7Encoder
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner

from adapters.wecom_webhook import fit_bytes
from bot.config import WeComConfig
from bot.core import Core
from bot.errors import UserError
from bot.i18n import translate
from bot.model import ChatKind, ImageSource, IncomingMessage, Reply, Sender
from bot.urls import find_urls

log = logging.getLogger(__name__)

PLATFORM = "wecom"
RECEIVE_ID = ""  # the AI bot's callbacks use an empty receiveid
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# 101031 流式消息回复: stream.content "最长不超过20480个字节"; msg_item images
# "目前最多支持设置10个", each "（base64编码前）最大不能超过10M，支持JPG,PNG格式" (our QR
# PNGs are a few kB).
STREAM_CONTENT_MAX_BYTES = 20480
MAX_REPLY_IMAGES = 10
# 101138 主动回复消息: markdown.content "最长不超过20480个字节".
FOLLOW_UP_MAX_BYTES = 20480
_MENTION = re.compile(r"^\s*(?:@\S+\s*)+")
_SEEN_MAX = 2048
_SEEN_SECONDS = 600.0

WeComReply = dict[str, Any]  # the plaintext JSON of a passive reply


class CallbackRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WeComAdapter:
    def __init__(
        self,
        core: Core,
        config: WeComConfig,
        *,
        session: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self._core = core
        self._config = config
        self._session = session
        self._crypto = WeChatCrypto(config.token, config.encoding_aes_key, RECEIVE_ID)
        self._key: bytes = self._crypto.key
        # msgid -> (time, reply) so WeCom's retries of a callback get the same answer once.
        self._answers: OrderedDict[str, tuple[float, asyncio.Future[WeComReply]]] = OrderedDict()
        self._followups: set[asyncio.Task[None]] = set()

    def mount(self, app: web.Application) -> None:
        app.router.add_get(self._config.callback_path, self.verify_url)
        app.router.add_post(self._config.callback_path, self.callback)

    async def close(self) -> None:
        """Let follow-up replies already underway finish."""
        if self._followups:
            await asyncio.wait(self._followups, timeout=10)

    async def verify_url(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        try:
            echo = self._crypto.check_signature(
                q.get("msg_signature", ""),
                q.get("timestamp", ""),
                q.get("nonce", ""),
                q.get("echostr", ""),
            )
        except InvalidSignatureException:
            log.warning("wecom url verification refused: bad signature from %s", request.remote)
            return web.Response(status=403, text="bad signature")
        except Exception:
            log.warning("wecom url verification refused: undecryptable echostr")
            return web.Response(status=400, text="bad echostr")
        return web.Response(text=echo)

    async def callback(self, request: web.Request) -> web.StreamResponse:
        return await self.answer_callback(request.query, await request.read())

    async def answer_callback(self, query: Mapping[str, str], body: bytes) -> web.Response:
        """The answer to one callback POST, from its URL's query and its body."""
        try:
            message = await self._decrypt(query, body)
        except CallbackRejected as e:
            log.warning("wecom callback refused (%d): %s", e.status, e.reason)
            return web.Response(status=e.status, text=e.reason)
        if message.get("msgtype") not in ("text", "image", "mixed"):
            # Stream refreshes, events, voice, files: the documented "nothing to say" is an
            # empty 200 (our streams finish in the first reply, so refreshes are rare).
            return web.Response(text="")
        msgid = str(message.get("msgid") or "")
        log.info(
            "wecom message msgid=%s chat=%s type=%s",
            msgid,
            message.get("chatid") or "single",
            message.get("msgtype"),
        )
        reply = await self._answer_once(msgid, message)
        # 101033 加密与被动回复: the reply's nonce "需要用回调url中的nonce". A retried callback
        # comes with a fresh nonce, so the same reply is sealed again for each delivery.
        return web.json_response(self._encrypt(reply, query.get("nonce", "")))

    async def _decrypt(self, q: Mapping[str, str], body: bytes) -> dict[str, Any]:
        try:
            encrypted = json.loads(body)["encrypt"]
            if not isinstance(encrypted, str):
                raise TypeError("encrypt is not a string")
        except (ValueError, KeyError, TypeError) as e:
            raise CallbackRejected(400, "malformed body") from e
        try:
            plain = await asyncio.to_thread(
                self._crypto.decrypt_message,
                {"Encrypt": encrypted},
                q.get("msg_signature", ""),
                q.get("timestamp", ""),
                q.get("nonce", ""),
            )
        except InvalidSignatureException as e:
            raise CallbackRejected(403, "bad signature") from e
        except Exception as e:  # wrong key, bad padding, wrong receiveid: undecryptable
            raise CallbackRejected(400, f"undecryptable body ({type(e).__name__})") from e
        try:
            message = json.loads(plain)
        except ValueError as e:
            raise CallbackRejected(400, "decrypted body is not JSON") from e
        if not isinstance(message, dict):
            raise CallbackRejected(400, "decrypted body is not an object")
        return message

    def _encrypt(self, reply: WeComReply, nonce: str) -> dict[str, str]:
        """The encrypted reply body, signed with the callback's nonce and a seconds timestamp."""
        timestamp = str(int(time.time()))
        text = json.dumps(reply, ensure_ascii=False)
        encrypted = PrpCrypto(self._key).encrypt(text, RECEIVE_ID)
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else str(encrypted)
        signer = WeChatSigner()
        signer.add_data(self._config.token, timestamp, nonce, encrypted)
        return {
            "encrypt": encrypted,
            "msgsignature": signer.signature,
            "timestamp": timestamp,
            "nonce": nonce,
        }

    async def _answer_once(self, msgid: str, message: dict[str, Any]) -> WeComReply:
        """WeCom retries callbacks it thinks failed: the same msgid gets the same reply."""
        now = time.monotonic()
        while self._answers:
            oldest_time = next(iter(self._answers.values()))[0]
            if len(self._answers) < _SEEN_MAX and now - oldest_time < _SEEN_SECONDS:
                break
            self._answers.popitem(last=False)
        if msgid and msgid in self._answers:
            log.info("wecom retry of msgid=%s answered again", msgid)
            return await asyncio.shield(self._answers[msgid][1])
        future: asyncio.Future[WeComReply] = asyncio.get_running_loop().create_future()
        if msgid:
            self._answers[msgid] = (now, future)
        try:
            reply = await self._answer(message)
        except BaseException as e:
            self._answers.pop(msgid, None)
            future.set_exception(e)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        future.set_result(reply)
        return reply

    async def _answer(self, message: dict[str, Any]) -> WeComReply:
        incoming = self.to_incoming(message)
        if incoming is None:
            return _stream("")
        if not incoming.text and not incoming.images:
            # A bare @mention: say what the bot does rather than nothing.
            lang = await self._core.group_language(PLATFORM, incoming.chat_id, incoming.chat_title)
            return _stream(self._core.help_text(lang, PLATFORM))
        work = asyncio.ensure_future(self._core.handle(incoming))
        done, _ = await asyncio.wait({work}, timeout=self._config.reply_deadline_ms / 1000)
        if work in done:
            return _stream_reply(work.result())
        # Past WeCom's reply window: answer briefly now, send the result via response_url.
        response_url = str(message.get("response_url") or "")
        deliverable = bool(response_url) and self._may_fetch(
            response_url, "response_url", incoming.chat_id
        )
        task = asyncio.create_task(
            self._follow_up(work, response_url if deliverable else "", incoming.chat_id)
        )
        self._followups.add(task)
        task.add_done_callback(self._followups.discard)
        lang = await self._core.group_language(PLATFORM, incoming.chat_id, incoming.chat_title)
        return _stream(translate(lang, "working" if deliverable else "result_undeliverable"))

    def _may_fetch(self, url: str, what: str, chat_id: str) -> bool:
        """True when `url` (from a callback) is on one of WeCom's hosts; else one warning."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "") if parts.scheme in ("http", "https") else ""
        except ValueError:  # an unparsable URL: no host to trust
            host = ""
        if host and host in self._config.fetch_hosts:
            return True
        log.warning(
            "wecom %s refused chat=%s: host %r is not in wecom.fetch_hosts", what, chat_id, host
        )
        return False

    async def _follow_up(
        self, work: asyncio.Future[list[Reply]], response_url: str, chat_id: str
    ) -> None:
        replies = await work
        if not response_url or not replies:
            return
        text = fit_bytes("\n\n".join(r.text for r in replies), FOLLOW_UP_MAX_BYTES)
        try:
            async with self._session().post(
                response_url, json={"msgtype": "markdown", "markdown": {"content": text}}
            ) as resp:
                data = await resp.json(content_type=None)
            if data.get("errcode", 0) != 0:
                log.warning("wecom follow-up refused chat=%s errcode=%s", chat_id, data["errcode"])
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            log.warning("wecom follow-up failed chat=%s: %s", chat_id, type(e).__name__)

    def to_incoming(self, message: dict[str, Any]) -> IncomingMessage | None:
        msgtype = message.get("msgtype")
        user_id = str(_field(message.get("from"), "userid") or "unknown")
        is_group = message.get("chattype") == "group"
        chat_id = str(message.get("chatid") or "") if is_group else f"single:{user_id}"
        texts: list[str] = []
        images: list[ImageSource] = []
        if msgtype == "text":
            texts.append(_text(message.get("text")))
        elif msgtype == "image":
            images.append(self._image(message.get("image"), 1, chat_id))
        elif msgtype == "mixed":
            items = _field(message.get("mixed"), "msg_item")
            for index, item in enumerate(items if isinstance(items, list) else [], 1):
                if _field(item, "msgtype") == "text":
                    texts.append(_text(_field(item, "text")))
                elif _field(item, "msgtype") == "image":
                    images.append(self._image(_field(item, "image"), index, chat_id))
        else:
            return None  # events, voice, files...: nothing to shorten
        text = " ".join(_MENTION.sub("", t, count=1).strip() for t in texts).strip()
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=chat_id,
            chat_title=chat_id,
            chat_kind=ChatKind.GROUP if is_group else ChatKind.PRIVATE,
            sender=Sender(user_id, user_id),
            text=text,
            urls=find_urls(text),
            images=tuple(images),
            is_admin=user_id in self._config.admins,
            message_id=str(message.get("msgid") or ""),
            addressed=True,  # group messages reach the AI bot only when it is @-mentioned
        )

    def _image(self, image: object, index: int, chat_id: str) -> ImageSource:
        url = str(_field(image, "url") or "")

        async def load() -> bytes:
            if not self._may_fetch(url, "image url", chat_id):
                raise UserError("image_host_refused", "image_host_refused")
            return await self.download_image(url)

        return ImageSource(f"wecom_image_{index}.jpg", None, load)

    async def download_image(self, url: str) -> bytes:
        """WeCom serves the AI bot's images AES-encrypted with the callback key."""
        async with self._session().get(url) as resp:
            resp.raise_for_status()
            if (resp.content_length or 0) > MAX_IMAGE_BYTES + 64:
                raise ValueError("image too large")
            data = await resp.content.read(MAX_IMAGE_BYTES + 64)
        return await asyncio.to_thread(self.decrypt_file, data)

    def decrypt_file(self, data: bytes) -> bytes:
        return bytes(PKCS7Encoder.decode(WeChatCipher(self._key).decrypt(data)))


def _field(value: object, key: str) -> Any:
    """`value[key]` when `value` is a JSON object, else None: a callback of another shape than
    documented (a changed API, a fuzzer) is read as far as it goes, never answered with a 500."""
    return value.get(key) if isinstance(value, dict) else None


def _text(item: object) -> str:
    return str(_field(item, "content") or "")


def _stream(content: str, images: list[dict[str, Any]] | None = None) -> WeComReply:
    """A finished stream (images are only allowed in the last reply of a stream)."""
    stream: dict[str, Any] = {
        "id": secrets.token_hex(8),
        "finish": True,
        "content": fit_bytes(content, STREAM_CONTENT_MAX_BYTES),
    }
    if images:
        stream["msg_item"] = images
    return {"msgtype": "stream", "stream": stream}


def _stream_reply(replies: list[Reply]) -> WeComReply:
    text = "\n\n".join(r.text for r in replies)
    pngs = [image.png for r in replies for image in r.images][:MAX_REPLY_IMAGES]
    items = [
        {
            "msgtype": "image",
            "image": {
                "base64": base64.b64encode(png).decode(),
                "md5": hashlib.md5(png).hexdigest(),  # noqa: S324 - WeCom's checksum, not security
            },
        }
        for png in pngs
    ]
    return _stream(text, items)

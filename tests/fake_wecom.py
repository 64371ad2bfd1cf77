"""A local fake of WeCom's side for the 智能机器人 (AI bot, API mode) and the group-robot webhook.

It owns the callback crypto (written from the docs with `cryptography`, not wechatpy), the
callback client, encrypted image hosting, response_url and `/cgi-bin/webhook/send`.

Protocol sources (developer.work.weixin.qq.com/document/path/...):
- 101033 回调和回复的加解密方案: GET URL check (msg_signature, timestamp, nonce, echostr; answer
  the plaintext within 1 s), POST body `{"encrypt": ...}`, encrypted JSON reply
  `{"encrypt", "msgsignature", "timestamp", "nonce"}` or an empty body; ReceiveId is "".
- 91144 加解密方案说明: AESKey = b64decode(EncodingAESKey + "="), AES-256-CBC, IV = key[:16],
  PKCS#7 padding to a multiple of 32 bytes, plaintext = random(16) + len(4, big-endian) + msg
  + ReceiveId, signature = sha1 of the sorted concatenation of token, timestamp, nonce, encrypt.
- 100719 接收消息, 101031 被动回复消息, 101138 主动回复消息 (response_url: once, 1 hour).
- 91770 群机器人: text <= 2048 bytes, markdown <= 4096 bytes, image base64 + md5 <= 2 MB,
  20 messages per minute per robot.
Values marked GUESS below were not found in the official text; see the module's report.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import os
import secrets
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from yarl import URL

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "QDG6eK"
# 43 characters from [A-Za-z0-9], as the admin console generates them.
DEFAULT_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

PAD_BLOCK = 32  # WeCom pads to 32 bytes, not AES's 16
URL_CHECK_DEADLINE = 1.0  # 101033: answer the GET check within 1 s
CALLBACK_DEADLINE = 5.0  # GUESS: WeCom callbacks generally wait 5 s; the AI bot pages are silent
RESPONSE_URL_TTL = 3600.0  # 101138: a response_url lives 1 hour and may be used once

WEBHOOK_TEXT_MAX_BYTES = 2048
WEBHOOK_MARKDOWN_MAX_BYTES = 4096
WEBHOOK_IMAGE_MAX_BYTES = 2 * 1024 * 1024
WEBHOOK_MESSAGES_PER_MINUTE = 20

ERR_OK = 0
ERR_INVALID_IMAGE_SIZE = 40009  # GUESS for the webhook: WeCom's global "不合法的图片大小"
ERR_INVALID_MSGTYPE = 40008  # WeCom global "不合法的消息类型"
ERR_CONTENT_TOO_LONG = 40058  # seen: "markdown.content exceed max length 4096. ..."
ERR_EMPTY_CONTENT = 44004  # WeCom global "文本消息content参数为空"
ERR_FREQ_LIMIT = 45009  # "api freq out of limit"
ERR_BAD_JSON = 47001  # WeCom global "解析JSON/XML内容错误"
ERR_INVALID_WEBHOOK = 93000  # "invalid webhook url, hint: ..."
ERR_MD5_MISMATCH = 301019  # GUESS: errmsg "media md5 not match" is seen, the code is not
ERR_RESPONSE_URL_USED = 60020  # GUESS: the docs only say "once, 1 hour"


class WeComCryptoError(ValueError):
    """A ciphertext, its padding or its ReceiveId is not what WeCom would produce."""


class WeComReplyError(AssertionError):
    """The bot's passive reply is not a well-formed, correctly signed WeCom reply."""


def _sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class WeComCrypto:
    """WeCom's callback crypto, implemented from document 91144 with `cryptography` only."""

    def __init__(
        self, token: str, encoding_aes_key: str, receive_id: str = "", *, strict: bool = True
    ) -> None:
        if len(encoding_aes_key) != 43:
            raise WeComCryptoError("EncodingAESKey must be 43 characters")
        self.token = token
        self.encoding_aes_key = encoding_aes_key
        self.receive_id = receive_id
        self.key = base64.b64decode(encoding_aes_key + "=")
        if len(self.key) != 32:
            raise WeComCryptoError("EncodingAESKey must decode to 32 bytes")
        self.iv = self.key[:16]
        self._strict = strict

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return _sha1_hex("".join(sorted([self.token, timestamp, nonce, encrypt])))

    def check(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> bool:
        return hmac.compare_digest(self.sign(timestamp, nonce, encrypt), signature)

    def encrypt(self, msg: str, *, random_prefix: bytes | None = None) -> str:
        prefix = secrets.token_bytes(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise WeComCryptoError("the random prefix is 16 bytes")
        body = msg.encode()
        plain = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        return base64.b64encode(self._cbc(plain, encrypt=True)).decode("ascii")

    def decrypt(self, b64: str) -> str:
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error as e:
            raise WeComCryptoError("ciphertext is not base64") from e
        plain = self._cbc(raw, encrypt=False)
        if len(plain) < 20:
            raise WeComCryptoError("plaintext shorter than its header")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise WeComCryptoError("message length runs past the plaintext")
        msg = plain[20 : 20 + length]
        receive_id = plain[20 + length :]
        if receive_id != self.receive_id.encode():
            raise WeComCryptoError(f"ReceiveId {receive_id!r} != {self.receive_id!r}")
        return msg.decode()

    def encrypt_file(self, data: bytes) -> bytes:
        """Encrypt a media body the way the AI bot's image `url` serves it (raw, no header)."""
        return self._cbc(data, encrypt=True)

    def decrypt_file(self, data: bytes) -> bytes:
        return self._cbc(data, encrypt=False)

    def _cbc(self, data: bytes, *, encrypt: bool) -> bytes:
        cipher = Cipher(algorithms.AES(self.key), modes.CBC(self.iv))
        if encrypt:
            enc = cipher.encryptor()
            return enc.update(_pad(data)) + enc.finalize()
        if not data or len(data) % 16:
            raise WeComCryptoError("ciphertext is not a whole number of AES blocks")
        dec = cipher.decryptor()
        return _unpad(dec.update(data) + dec.finalize(), strict=self._strict)


def _pad(data: bytes) -> bytes:
    n = PAD_BLOCK - len(data) % PAD_BLOCK
    return data + bytes([n]) * n


def _unpad(data: bytes, *, strict: bool) -> bytes:
    n = data[-1] if data else 0
    if not 1 <= n <= PAD_BLOCK or n > len(data):
        raise WeComCryptoError("bad PKCS#7 padding")
    if strict and data[-n:] != bytes([n]) * n:
        raise WeComCryptoError("bad PKCS#7 padding")
    return data[:-n]


@dataclass(frozen=True, slots=True)
class CallbackResult:
    """What the bot answered to one callback POST."""

    status: int
    body_text: str
    reply: JSONDict | None
    reply_error: str | None = None
    elapsed: float = 0.0

    @property
    def empty(self) -> bool:
        """The documented "reply nothing" answer: HTTP 200 with an empty body."""
        return self.status == 200 and not self.body_text.strip()


@dataclass(frozen=True, slots=True)
class WebhookCall:
    key: str | None
    body: JSONDict | None
    errcode: int


@dataclass(frozen=True, slots=True)
class ResponsePost:
    code: str
    body: JSONDict | None
    errcode: int


@dataclass(slots=True)
class _ResponseSlot:
    created: float
    used: bool = False


@dataclass(slots=True)
class _HostedImage:
    encrypted: bytes
    downloads: int = 0


class FakeWeCom:
    """WeCom's servers for one AI bot plus any number of group-robot webhook keys.

    Binds 127.0.0.1 port 0. `clock` drives timestamps, response_url expiry and the webhook
    rate limit, so tests advance time without sleeping.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        encoding_aes_key: str = DEFAULT_AES_KEY,
        clock: Callable[[], float] = time.time,
        webhook_messages_per_minute: int = WEBHOOK_MESSAGES_PER_MINUTE,
    ) -> None:
        self.crypto = WeComCrypto(token, encoding_aes_key, "")
        self.clock = clock
        self.webhook_messages_per_minute = webhook_messages_per_minute
        self.webhook_calls: list[WebhookCall] = []
        self.response_posts: list[ResponsePost] = []
        self.callbacks: list[CallbackResult] = []
        self.image_downloads: list[str] = []
        self.last_echo: str | None = None
        self._webhook_keys: set[str] = set()
        self._sent_at: dict[str, deque[float]] = {}
        self._responses: dict[str, _ResponseSlot] = {}
        self._images: dict[str, _HostedImage] = {}
        self._ids = itertools.count(1)
        self._posted = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port = 0

    @property
    def token(self) -> str:
        return self.crypto.token

    @property
    def encoding_aes_key(self) -> str:
        return self.crypto.encoding_aes_key

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/cgi-bin/webhook/send", self._handle_webhook)
        app.router.add_post("/cgi-bin/aibot/response", self._handle_response_url)
        app.router.add_get("/media/{media_id}", self._handle_media)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """Base URL: use it as the webhook/API base (`{url}/cgi-bin/webhook/send?key=...`)."""
        return f"http://127.0.0.1:{self._port}"

    # -- the callback client: what WeCom sends to the bot --------------------------------

    def _stamp(self) -> tuple[str, str]:
        return str(int(self.clock())), str(secrets.randbelow(10**10))

    async def verify_url(
        self,
        callback_url: str,
        *,
        echo: str | None = None,
        signature_override: str | None = None,
        timeout: float = URL_CHECK_DEADLINE,  # noqa: ASYNC109 - WeCom's own deadline
    ) -> tuple[int, str]:
        """The GET check WeCom sends when an admin saves the callback URL.

        Returns (status, body). A correct bot answers 200 with exactly `fake.last_echo`.
        """
        echo = echo if echo is not None else str(secrets.randbelow(10**19))
        self.last_echo = echo
        timestamp, nonce = self._stamp()
        echostr = self.crypto.encrypt(echo)
        signature = signature_override or self.crypto.sign(timestamp, nonce, echostr)
        url = _with_query(
            callback_url,
            msg_signature=signature,
            timestamp=timestamp,
            nonce=nonce,
            echostr=echostr,
        )
        async with self._http().get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            return resp.status, await resp.text()

    async def send_callback(
        self,
        callback_url: str,
        message: JSONDict,
        *,
        signature_override: str | None = None,
        raw_body: bytes | str | None = None,
        crypto: WeComCrypto | None = None,
        strict: bool = True,
        timeout: float = CALLBACK_DEADLINE,  # noqa: ASYNC109 - WeCom's own deadline
    ) -> CallbackResult:
        """POST one encrypted callback and decode the bot's passive reply.

        `crypto` encrypts with other keys (a forged sender); replies are always checked with
        the real bot's keys. With `strict`, a reply that is neither empty nor a correctly
        signed encrypted JSON raises WeComReplyError; otherwise `reply_error` says why.
        """
        sender = crypto or self.crypto
        timestamp, nonce = self._stamp()
        encrypt = sender.encrypt(json.dumps(message, ensure_ascii=False))
        signature = signature_override or sender.sign(timestamp, nonce, encrypt)
        if raw_body is None:
            body: bytes = json.dumps({"encrypt": encrypt}).encode()
        else:
            body = raw_body.encode() if isinstance(raw_body, str) else raw_body
        url = _with_query(callback_url, msg_signature=signature, timestamp=timestamp, nonce=nonce)
        started = time.monotonic()
        async with self._http().post(
            url,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            status, text = resp.status, await resp.text()
        elapsed = time.monotonic() - started
        reply, problem = None, None
        if status == 200 and text.strip():
            try:
                reply = self.open_reply(text)
            except WeComReplyError as e:
                if strict:
                    raise
                problem = str(e)
        result = CallbackResult(status, text, reply, problem, elapsed)
        self.callbacks.append(result)
        return result

    def open_reply(self, text: str) -> JSONDict:
        """Check and decrypt an encrypted passive reply body (101033 加密与被动回复)."""
        try:
            outer = json.loads(text)
        except ValueError as e:
            raise WeComReplyError(f"reply is not JSON: {text[:80]!r}") from e
        if not isinstance(outer, dict):
            raise WeComReplyError("reply is not a JSON object")
        fields = ("encrypt", "msgsignature", "timestamp", "nonce")
        missing = [f for f in fields if not isinstance(outer.get(f), str | int)]
        if missing:
            raise WeComReplyError(f"reply lacks {missing}")
        encrypt = str(outer["encrypt"])
        timestamp, nonce = str(outer["timestamp"]), str(outer["nonce"])
        if not self.crypto.check(str(outer["msgsignature"]), timestamp, nonce, encrypt):
            raise WeComReplyError("reply msgsignature does not match")
        try:
            plain = self.crypto.decrypt(encrypt)
        except WeComCryptoError as e:
            raise WeComReplyError(f"reply does not decrypt: {e}") from e
        try:
            inner = json.loads(plain)
        except ValueError as e:
            raise WeComReplyError("decrypted reply is not JSON") from e
        if not isinstance(inner, dict):
            raise WeComReplyError("decrypted reply is not a JSON object")
        return inner

    # -- image hosting: the AI bot's encrypted image url ---------------------------------

    def host_image(self, data: bytes) -> str:
        media_id = f"m{next(self._ids)}"
        self._images[media_id] = _HostedImage(self.crypto.encrypt_file(data))
        return f"{self.url}/media/{media_id}"

    def downloads_of(self, url: str) -> int:
        return self._images[URL(url).name].downloads

    async def _handle_media(self, request: web.Request) -> web.StreamResponse:
        image = self._images.get(request.match_info["media_id"])
        if image is None:
            raise web.HTTPNotFound()
        image.downloads += 1
        self.image_downloads.append(str(request.url))
        return web.Response(body=image.encrypted, content_type="application/octet-stream")

    # -- response_url: one follow-up per callback ----------------------------------------

    def new_response_url(self) -> str:
        code = f"RC{next(self._ids)}{secrets.token_hex(4)}"
        self._responses[code] = _ResponseSlot(created=self.clock())
        return f"{self.url}/cgi-bin/aibot/response?response_code={code}"

    async def wait_for_response_post(
        self,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a bounded wait is this helper's job
    ) -> list[ResponsePost]:
        async with asyncio.timeout(timeout), self._posted:
            await self._posted.wait_for(lambda: len(self.response_posts) >= count)
            return list(self.response_posts)

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        code = request.query.get("response_code", "")
        body = await _json_body(request)
        slot = self._responses.get(code)
        if slot is None or slot.used or self.clock() - slot.created > RESPONSE_URL_TTL:
            errcode, errmsg = ERR_RESPONSE_URL_USED, "response_url invalid, used or expired"
        elif body is None:
            errcode, errmsg = ERR_BAD_JSON, "Warning: wrong json format."
        elif body.get("msgtype") not in ("markdown", "template_card"):
            errcode, errmsg = ERR_INVALID_MSGTYPE, "invalid message type"
        else:
            slot.used = True
            errcode, errmsg = ERR_OK, "ok"
        async with self._posted:
            self.response_posts.append(ResponsePost(code, body, errcode))
            self._posted.notify_all()
        return _errjson(errcode, errmsg)

    # -- group robot webhook: POST /cgi-bin/webhook/send?key=KEY -------------------------

    def add_webhook_key(self, key: str) -> str:
        """Register a robot; returns its full webhook URL."""
        self._webhook_keys.add(key)
        return f"{self.url}/cgi-bin/webhook/send?key={quote(key, safe='')}"

    def remove_webhook_key(self, key: str) -> None:
        """The robot was deleted or removed from its group: its key now answers 93000."""
        self._webhook_keys.discard(key)

    def webhook_messages(self, key: str) -> list[JSONDict]:
        """Messages the group actually received through `key`."""
        return [c.body for c in self.webhook_calls if c.key == key and c.errcode == 0 and c.body]

    async def _handle_webhook(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("key")
        body = await _json_body(request)
        errcode, errmsg = self._check_webhook(key, body)
        self.webhook_calls.append(WebhookCall(key, body, errcode))
        return _errjson(errcode, errmsg)

    def _check_webhook(self, key: str | None, body: JSONDict | None) -> tuple[int, str]:
        if key is None or key not in self._webhook_keys:
            return ERR_INVALID_WEBHOOK, "invalid webhook url"
        if body is None:
            return ERR_BAD_JSON, "Warning: wrong json format."
        problem = _webhook_content_problem(body)
        if problem is not None:
            return problem
        now = self.clock()
        sent = self._sent_at.setdefault(key, deque())
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        if len(sent) >= self.webhook_messages_per_minute:
            return ERR_FREQ_LIMIT, "api freq out of limit"
        sent.append(now)
        return ERR_OK, "ok"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("FakeWeCom is not started")
        return self._session


def _webhook_content_problem(body: JSONDict) -> tuple[int, str] | None:
    msgtype = body.get("msgtype")
    if msgtype in ("text", "markdown"):
        content = (body.get(msgtype) or {}).get("content")
        if not isinstance(content, str) or not content:
            return ERR_EMPTY_CONTENT, "empty content"
        limit = WEBHOOK_TEXT_MAX_BYTES if msgtype == "text" else WEBHOOK_MARKDOWN_MAX_BYTES
        if len(content.encode()) > limit:
            return ERR_CONTENT_TOO_LONG, (
                f"{msgtype}.content exceed max length {limit}. invalid Request Parameter"
            )
        return None
    if msgtype == "image":
        image = body.get("image") or {}
        try:
            data = base64.b64decode(str(image.get("base64", "")), validate=True)
        except binascii.Error:
            return ERR_INVALID_IMAGE_SIZE, "invalid image base64"
        if not data or len(data) > WEBHOOK_IMAGE_MAX_BYTES:
            return ERR_INVALID_IMAGE_SIZE, "invalid image size"
        if str(image.get("md5", "")).lower() != md5_hex(data):
            return ERR_MD5_MISMATCH, "media md5 not match"
        return None
    if msgtype in ("news", "file", "voice", "template_card", "markdown_v2"):
        return None  # accepted as-is; this fake only checks what suo sends
    return ERR_INVALID_MSGTYPE, "invalid message type"


def stream_reply_problems(reply: JSONDict) -> list[str]:
    """What is wrong with a decrypted passive stream reply (101031 流式消息回复).

    Checks the documented shape: msgtype "stream", stream.id, stream.finish (bool),
    stream.content, and msg_item images (base64 + md5 of the raw bytes) only when finish.
    """
    problems: list[str] = []
    if reply.get("msgtype") != "stream":
        return [f"msgtype is {reply.get('msgtype')!r}, not 'stream'"]
    stream = reply.get("stream")
    if not isinstance(stream, dict):
        return ["stream is not an object"]
    if not isinstance(stream.get("id"), str) or not stream["id"]:
        problems.append("stream.id missing")
    if not isinstance(stream.get("finish"), bool):
        problems.append("stream.finish is not a bool")
    if "content" in stream and not isinstance(stream["content"], str):
        problems.append("stream.content is not a string")
    items = stream.get("msg_item")
    if items is None:
        return problems
    if stream.get("finish") is not True:
        problems.append("msg_item is only allowed when finish is true")
    if not isinstance(items, list):
        return [*problems, "msg_item is not a list"]
    for i, item in enumerate(items):
        image = item.get("image") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("msgtype") != "image" or not image:
            problems.append(f"msg_item[{i}] is not an image item")
            continue
        try:
            data = base64.b64decode(str(image.get("base64", "")), validate=True)
        except binascii.Error:
            problems.append(f"msg_item[{i}].image.base64 is not base64")
            continue
        if str(image.get("md5", "")).lower() != md5_hex(data):
            problems.append(f"msg_item[{i}].image.md5 does not match")
    return problems


def _with_query(url: str, **params: str) -> URL:
    """Append params percent-encoded like WeCom does (bots must URL-decode them)."""
    base = URL(url).with_fragment(None)
    extra = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    query = f"{base.raw_query_string}&{extra}" if base.raw_query_string else extra
    return URL(f"{base.with_query(None)}?{query}", encoded=True)


async def _json_body(request: web.Request) -> JSONDict | None:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _errjson(errcode: int, errmsg: str) -> web.Response:
    if errcode:
        hint = f"{int(time.time())}{os.getpid()}"
        errmsg = (
            f"{errmsg}, hint: [{hint}], from ip: 127.0.0.1, "
            f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
        )
    return web.json_response({"errcode": errcode, "errmsg": errmsg})

"""A local fake of WeCom's side for the 智能机器人 (AI bot, API mode) and the group-robot webhook.

It owns the callback crypto (written from the docs with `cryptography`, not wechatpy), the
callback client and its reply checks, encrypted image hosting, response_url and
`/cgi-bin/webhook/send`. A fake is worth what it refuses: every rule below is checked, and each
check in the code carries its page id and the page's own words.

Sources (developer.work.weixin.qq.com/document/path/...):
- 101033 回调和回复的加解密方案: the GET URL check (answer the plaintext "在1秒内"), the POST body
  `{"encrypt"}`, and the encrypted passive reply `{"encrypt", "msgsignature", "timestamp",
  "nonce"}` whose nonce is "随机数，需要用回调url中的nonce" and timestamp "要求为秒级别的"; or
  "直接回复空包". "企业内部智能机器人场景中，ReceiveId为\"\"".
- 91144 加解密方案说明: AESKey = Base64_Decode(EncodingAESKey + "="), AES-CBC, IV = AESKey[:16],
  "PKCS#7填充至32字节的倍数", rand_msg = random(16B) + msg_len(4B, big-endian) + msg + receiveid,
  msg_signature = sha1(sort(token, timestamp, nonce, msg_encrypt)).
- 100719 接收消息: callback shapes (text/image/mixed/voice/file/video, stream refresh); "msgid
  本次回调的唯一性标志，开发者需据此进行事件排重（可能因为网络等原因重复回调）".
- 101031 被动回复消息: which reply types answer which callback, and the stream reply's fields and
  limits (content 20480 bytes, msg_item images only when finish, at most 10, JPG/PNG <= 10M,
  base64 + md5 of the raw bytes, feedback.id <= 256 bytes).
- 101138 主动回复消息: response_url takes markdown or template_card, "每个 response_url
  用户可以调用接口一次", "有效期为 1 个小时", markdown.content "最长不超过20480个字节".
- 91770 群机器人配置说明: text <= 2048 bytes, markdown (and markdown_v2) <= 4096 bytes, image
  base64 + md5, JPG/PNG <= 2M, news 1 to 8 articles, "每个机器人发送的消息不能超过20条/分钟".

GUESS (not in the official text; each is marked where it is used): the 5 s callback wait; "10M"
and "2M" read as MiB; most errcodes (see the ERR_ constants); a refused response_url POST does not
use up the URL; events other than enter_chat / template_card_event take only an empty reply; a
stream refresh is answered with the same stream.id; a stream.id is unique per user message.
Not checked: template_card contents (101032), webhook file/voice/template_card bodies, @mentions.
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

PAD_BLOCK = 32  # 91144: "数据采用PKCS#7填充至32字节的倍数", not AES's 16
URL_CHECK_DEADLINE = 1.0  # 101033: "在1秒内响应GET请求"
CALLBACK_DEADLINE = 5.0  # GUESS: WeCom callbacks generally wait 5 s; the AI bot pages are silent
NONCE_UNIQUE_SECONDS = 2 * 3600.0  # 101033: nonce "随机数，两个小时内保证不重复"
RESPONSE_URL_TTL = 3600.0  # 101138: "该 response_url 有效期为 1 个小时"

# 101031 流式消息回复
STREAM_CONTENT_MAX_BYTES = 20480  # stream.content "最长不超过20480个字节，必须是utf8编码"
STREAM_MAX_IMAGES = 10  # stream.msg_item.image "目前最多支持设置10个"
STREAM_IMAGE_MAX_BYTES = 10 * 1024 * 1024  # "图片（base64编码前）最大不能超过10M"; GUESS: MiB
FEEDBACK_ID_MAX_BYTES = 256  # feedback.id "有效长度为 256 字节以内，必须是 utf-8 编码"
# 101138 markdown消息: markdown.content "最长不超过20480个字节，必须是utf8编码"
RESPONSE_MARKDOWN_MAX_BYTES = 20480

# 91770 群机器人配置说明
WEBHOOK_TEXT_MAX_BYTES = 2048  # text.content "最长不超过2048个字节，必须是utf8编码"
WEBHOOK_MARKDOWN_MAX_BYTES = 4096  # "markdown内容，最长不超过4096个字节，必须是utf8编码"
WEBHOOK_IMAGE_MAX_BYTES = 2 * 1024 * 1024  # "图片（base64编码前）最大不能超过2M"; GUESS: MiB
WEBHOOK_MAX_ARTICLES = 8  # news: "一个图文消息支持1到8条图文"
WEBHOOK_MESSAGES_PER_MINUTE = 20  # "每个机器人发送的消息不能超过20条/分钟"

# 100719 接收消息: what a user's message callback may be (the rest are events and refreshes).
MESSAGE_MSGTYPES = frozenset({"text", "image", "mixed", "voice", "file", "video"})

ERR_OK = 0
ERR_INVALID_MEDIA_TYPE = 40005  # GUESS for the webhook: WeCom's global "不合法的媒体文件类型"
ERR_INVALID_IMAGE_SIZE = 40009  # GUESS for the webhook: WeCom's global "不合法的图片大小"
ERR_INVALID_MSGTYPE = 40008  # WeCom global "不合法的消息类型"
ERR_CONTENT_TOO_LONG = 40058  # seen: "markdown.content exceed max length 4096. ..."
ERR_EMPTY_CONTENT = 44004  # WeCom global "文本消息content参数为空"
ERR_ARTICLE_COUNT = 45008  # GUESS: WeCom's global "图文消息的文章数量不能超过8条"
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
    reply: JSONDict | None  # the decrypted reply WeCom accepted; None if empty or refused
    reply_error: str | None = None  # why WeCom would refuse the reply (only when not strict)
    elapsed: float = 0.0
    nonce: str = ""  # the nonce this callback carried in its URL

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
        self._nonces: dict[str, float] = {}  # nonce -> when it was sent, for 2 hours
        self._stream_owner: dict[str, str] = {}  # stream.id -> the msgid it first answered
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

    def _stamp(self, nonce: str | None = None) -> tuple[str, str]:
        """A seconds timestamp and a nonce: 101033 "随机数，两个小时内保证不重复"."""
        now = self.clock()
        while self._nonces and now - next(iter(self._nonces.values())) >= NONCE_UNIQUE_SECONDS:
            del self._nonces[next(iter(self._nonces))]
        if nonce in self._nonces:
            raise ValueError(f"nonce {nonce!r} was already sent within two hours")
        while nonce is None or nonce in self._nonces:
            nonce = str(secrets.randbelow(10**10))
        self._nonces[nonce] = now
        return str(int(now)), nonce

    async def verify_url(
        self,
        callback_url: str,
        *,
        echo: str | None = None,
        signature_override: str | None = None,
        timeout: float = URL_CHECK_DEADLINE,  # noqa: ASYNC109 - WeCom's own deadline
    ) -> tuple[int, str]:
        """The GET check WeCom sends when an admin saves the callback URL.

        Returns (status, body). 101033: "在1秒内响应GET请求，响应内容为上一步得到的明文消息内容
        (不能加引号，不能带bom头，不能带换行符)": a correct bot answers 200 with exactly
        `fake.last_echo` (a quote, BOM or newline makes the body differ), within `timeout`.
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
        nonce: str | None = None,
        signature_override: str | None = None,
        raw_body: bytes | str | None = None,
        crypto: WeComCrypto | None = None,
        strict: bool = True,
        timeout: float = CALLBACK_DEADLINE,  # noqa: ASYNC109 - WeCom's own deadline
    ) -> CallbackResult:
        """POST one encrypted callback and check the bot's passive reply as WeCom would.

        `nonce` picks the URL's nonce (default: a fresh one). `crypto` encrypts with other
        keys (a forged sender); replies are always checked with the real bot's keys. The
        reply must be empty or sealed for this callback (open_reply) and fit the callback
        (passive_reply_problems). With `strict` a refused reply raises WeComReplyError;
        otherwise `reply` is None and `reply_error` says why.
        """
        sender = crypto or self.crypto
        timestamp, nonce = self._stamp(nonce)
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
        # 101033: "可以选择直接回复空包" - an empty body is always an acceptable answer.
        if status == 200 and text.strip():
            try:
                reply = self.open_reply(text, nonce=nonce)
                problems = passive_reply_problems(message, reply)
                problems += self._stream_id_problems(message, reply)
                if problems:
                    raise WeComReplyError("; ".join(problems))
            except WeComReplyError as e:
                if strict:
                    raise
                reply, problem = None, str(e)
        result = CallbackResult(status, text, reply, problem, elapsed, nonce)
        self.callbacks.append(result)
        return result

    def open_reply(self, text: str, *, nonce: str) -> JSONDict:
        """Check and decrypt a passive reply to the callback whose URL carried `nonce`.

        101033 加密与被动回复: `{"encrypt", "msgsignature", "timestamp", "nonce"}`, all
        "是" (required); nonce "随机数，需要用回调url中的nonce"; timestamp
        "时间戳，要求为秒级别的"; msgsignature = sha1(sort(token, timestamp, nonce, encrypt))
        (91144); the plaintext encrypted with the callback's key and ReceiveId "".
        """
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
        timestamp, reply_nonce = str(outer["timestamp"]), str(outer["nonce"])
        if reply_nonce != nonce:
            raise WeComReplyError(
                f"reply nonce {reply_nonce!r} is not the callback URL's nonce {nonce!r}"
            )
        # Seconds since 1970 have at most 10 digits until 2286; milliseconds have 13.
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 10):
            raise WeComReplyError(f"reply timestamp {timestamp!r} is not in seconds")
        if not self.crypto.check(str(outer["msgsignature"]), timestamp, reply_nonce, encrypt):
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

    def _stream_id_problems(self, message: JSONDict, reply: JSONDict) -> list[str]:
        """101031 stream.id: "自定义的唯一id" - GUESS: unique per user message, so a stream id
        that answered one msgid may not open a stream for another (a retry of the same msgid
        may repeat it)."""
        stream = reply.get("stream")
        if message.get("msgtype") not in MESSAGE_MSGTYPES or not isinstance(stream, dict):
            return []
        stream_id, msgid = stream.get("id"), str(message.get("msgid") or "")
        if not isinstance(stream_id, str) or not stream_id:
            return []
        owner = self._stream_owner.setdefault(stream_id, msgid)
        if owner != msgid:
            return [f"stream.id {stream_id!r} already answered msgid {owner!r}"]
        return []

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
        # 101138: "每个 response_url 用户可以调用接口一次， 该 response_url 有效期为 1 个小时，
        # 超过有效期将无法使用". GUESS: a refused POST does not use the URL up.
        if slot is None or slot.used or self.clock() - slot.created > RESPONSE_URL_TTL:
            errcode, errmsg = ERR_RESPONSE_URL_USED, "response_url invalid, used or expired"
        elif body is None:
            errcode, errmsg = ERR_BAD_JSON, "Warning: wrong json format."
        else:
            errcode, errmsg = _response_content_problem(body) or (ERR_OK, "ok")
            slot.used = errcode == ERR_OK
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
    """91770 群机器人配置说明, message by message type."""
    msgtype = body.get("msgtype")
    if msgtype in ("text", "markdown", "markdown_v2"):
        # text: "文本内容，最长不超过2048个字节，必须是utf8编码"; markdown: "markdown内容，
        # 最长不超过4096个字节"; markdown_v2: "markdown_v2内容，最长不超过4096个字节".
        # All three are "是" (required).
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
        # "图片内容的base64编码", "图片内容（base64编码前）的md5值",
        # "注：图片（base64编码前）最大不能超过2M，支持JPG,PNG格式".
        problem = image_problem(body.get("image"), WEBHOOK_IMAGE_MAX_BYTES)
        if problem is None:
            return None
        kind, text = problem
        errcode = {"md5": ERR_MD5_MISMATCH, "format": ERR_INVALID_MEDIA_TYPE}.get(
            kind, ERR_INVALID_IMAGE_SIZE
        )
        return errcode, f"invalid image: {text}"
    if msgtype == "news":
        # "图文消息，一个图文消息支持1到8条图文".
        articles = (body.get("news") or {}).get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= WEBHOOK_MAX_ARTICLES:
            return ERR_ARTICLE_COUNT, "news.articles must hold 1 to 8 articles"
        return None
    if msgtype in ("file", "voice", "template_card"):
        return None  # accepted as-is; this fake only checks what suo sends or may send
    return ERR_INVALID_MSGTYPE, "invalid message type"


def _response_content_problem(body: JSONDict) -> tuple[int, str] | None:
    """101138 主动回复消息: "消息类型及数据格式" lists markdown消息 and 模板卡片消息 only."""
    msgtype = body.get("msgtype")
    if msgtype == "template_card":
        return None  # the card's own rules (101032) are not checked here
    if msgtype != "markdown":
        return ERR_INVALID_MSGTYPE, "invalid message type"
    markdown = body.get("markdown") or {}
    content = markdown.get("content")
    # markdown.content: "是" (required), "消息内容，最长不超过20480个字节，必须是utf8编码".
    # GUESS: the errcodes, borrowed from the webhook's.
    if not isinstance(content, str) or not content:
        return ERR_EMPTY_CONTENT, "empty content"
    if len(content.encode()) > RESPONSE_MARKDOWN_MAX_BYTES:
        return ERR_CONTENT_TOO_LONG, (
            f"markdown.content exceed max length {RESPONSE_MARKDOWN_MAX_BYTES}. "
            "invalid Request Parameter"
        )
    problem = _feedback_problem("markdown.feedback", markdown.get("feedback"))
    if problem is not None:
        return ERR_CONTENT_TOO_LONG, problem
    return None


def _is_jpg_or_png(data: bytes) -> bool:
    return data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"))


def image_problem(image: object, max_bytes: int) -> tuple[str, str] | None:
    """(kind, why) when a base64 + md5 image breaks WeCom's rules (101031 msg_item, 91770).

    Both pages: base64 and md5 are "是" (required), md5 is "图片内容（base64编码前）的md5值",
    the raw image is at most `max_bytes` and "支持JPG,PNG格式". `kind` is base64, size,
    format or md5.
    """
    if not isinstance(image, dict):
        return "base64", "image is not an object"
    b64, md5 = image.get("base64"), image.get("md5")
    if not isinstance(b64, str) or not b64:
        return "base64", "base64 missing"
    try:
        data = base64.b64decode(b64, validate=True)
    except binascii.Error:
        return "base64", "base64 is not base64"
    if not data or len(data) > max_bytes:
        return "size", f"{len(data)} bytes, not 1 to {max_bytes}"
    if not _is_jpg_or_png(data):
        return "format", "neither JPG nor PNG"
    if not isinstance(md5, str) or md5.lower() != md5_hex(data):
        return "md5", "md5 does not match"
    return None


def _feedback_problem(where: str, feedback: object) -> str | None:
    """101031/101138 feedback.id: "有效长度为 256 字节以内，必须是 utf-8 编码"."""
    if feedback is None:
        return None
    feedback_id = feedback.get("id") if isinstance(feedback, dict) else None
    if not isinstance(feedback_id, str):
        return f"{where}.id is not a string"
    if len(feedback_id.encode()) > FEEDBACK_ID_MAX_BYTES:
        return f"{where}.id is over {FEEDBACK_ID_MAX_BYTES} bytes"
    return None


def passive_reply_problems(callback: JSONDict, reply: JSONDict) -> list[str]:
    """What WeCom refuses in a decrypted passive reply to `callback` (101031 被动回复消息)."""
    kind, msgtype = callback.get("msgtype"), reply.get("msgtype")
    if kind in MESSAGE_MSGTYPES:
        # 回复用户消息: 流式消息回复, 模板卡片消息, 流式消息+模板卡片回复. Text only answers
        # enter_chat: "目前仅支持进入会话回调事件时，支持被动回复文本消息".
        if msgtype == "template_card":
            return []
        if msgtype not in ("stream", "stream_with_template_card"):
            return [f"msgtype {msgtype!r} cannot answer a user's message"]
        return stream_reply_problems(reply, first_reply=True)
    if kind == "stream":
        # 100719 流式消息刷新: WeCom asks for the latest content of stream.id; GUESS: the
        # answer is a stream reply with that same id.
        problems = stream_reply_problems(reply, first_reply=False)
        asked = (callback.get("stream") or {}).get("id")
        answered = (reply.get("stream") or {}).get("id") if not problems else asked
        if answered is not None and answered != asked:
            problems.append(f"refresh of stream {asked!r} answered as stream {answered!r}")
        return problems
    eventtype = (callback.get("event") or {}).get("eventtype")
    if eventtype == "enter_chat":
        # 回复欢迎语: 文本消息 or 模板卡片消息; text.content "是" (required).
        if msgtype == "template_card":
            return []
        content = (reply.get("text") or {}).get("content") if msgtype == "text" else None
        return [] if isinstance(content, str) and content else ["welcome is not text or a card"]
    if eventtype == "template_card_event":
        # 回复消息更新模板卡片: {"response_type": "update_template_card", ...}.
        if reply.get("response_type") == "update_template_card":
            return []
        return ["a card event is answered with response_type update_template_card"]
    return [f"GUESS: a {kind}/{eventtype} callback takes only an empty reply"]


def stream_reply_problems(reply: JSONDict, *, first_reply: bool = True) -> list[str]:
    """What is wrong with the stream part of a decrypted passive reply (101031 流式消息回复).

    msgtype "此时固定为：stream"; stream.id "否，流式消息首次回复的时候要求设置"; finish Bool;
    content String "最长不超过20480个字节"; msg_item images: "目前image的消息类型仅当
    finish=true，即流式消息结束的最后一次回复中设置", "目前最多支持设置10个", each an image
    (image_problem, "最大不能超过10M"); feedback.id at most 256 bytes.
    """
    if reply.get("msgtype") not in ("stream", "stream_with_template_card"):
        return [f"msgtype is {reply.get('msgtype')!r}, not 'stream'"]
    stream = reply.get("stream")
    if not isinstance(stream, dict):
        return ["stream is not an object"]
    problems: list[str] = []
    stream_id = stream.get("id")
    if first_reply and (not isinstance(stream_id, str) or not stream_id):
        problems.append("stream.id missing from the stream's first reply")
    elif stream_id is not None and not isinstance(stream_id, str):
        problems.append("stream.id is not a string")
    finish = stream.get("finish", False)
    if not isinstance(finish, bool):
        problems.append("stream.finish is not a bool")
    content = stream.get("content", "")
    if not isinstance(content, str):
        problems.append("stream.content is not a string")
    elif len(content.encode()) > STREAM_CONTENT_MAX_BYTES:
        problems.append(
            f"stream.content is {len(content.encode())} bytes, over {STREAM_CONTENT_MAX_BYTES}"
        )
    feedback = _feedback_problem("stream.feedback", stream.get("feedback"))
    if feedback is not None:
        problems.append(feedback)
    items = stream.get("msg_item")
    if items is None:
        return problems
    if finish is not True:
        problems.append("msg_item is only allowed when finish is true")
    if not isinstance(items, list):
        return [*problems, "msg_item is not a list"]
    if len(items) > STREAM_MAX_IMAGES:
        problems.append(f"msg_item holds {len(items)} images, over {STREAM_MAX_IMAGES}")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("msgtype") != "image":
            problems.append(f"msg_item[{i}] is not an image item")  # "目前支持：image"
            continue
        bad = image_problem(item.get("image"), STREAM_IMAGE_MAX_BYTES)
        if bad is not None:
            problems.append(f"msg_item[{i}].image: {bad[1]}")
    return problems


def _with_query(url: str, **params: str) -> URL:
    """Append params percent-encoded like WeCom does (bots must URL-decode them)."""
    base = URL(url).with_fragment(None)
    extra = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    query = f"{base.raw_query_string}&{extra}" if base.raw_query_string else extra
    return URL(f"{base.with_query(None)}?{query}", encoded=True)


async def _json_body(request: web.Request) -> JSONDict | None:
    """The POSTed JSON object; 91770 and 101138 both say "content必须是utf8编码", so a body in
    another encoding is refused (json.loads alone would accept UTF-16)."""
    try:
        body = json.loads((await request.read()).decode("utf-8"))
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

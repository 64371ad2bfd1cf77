"""A local fake of the Telegram Bot API that real python-telegram-bot talks to over HTTP.

It owns the wire formats (form, multipart, JSON), long polling, files, webhooks and a call log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import ipaddress
import itertools
import json
import math
import re
import socket
import warnings
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp import BodyPartReader, hdrs, web
from PIL import Image

from tests.telegram_builders import (
    CHAT_MEMBER_STATUSES,
    bot_user,
    chat_member,
    detect_entities,
    group_chat,
    utf16_len,
)

JSONDict = dict[str, Any]

MAX_TEXT_LENGTH = 4096  # UTF-16 code units after entity parsing, as tdlib counts
MAX_CAPTION_LENGTH = 1024
MAX_ALBUM_SIZE = 10
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # getFile refuses bigger files
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
MAX_PHOTO_UPLOAD_SIZE = 10 * 1024 * 1024

# Updates a bot only receives when it names them in allowed_updates.
OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Free-text parameters: never JSON-decoded, so a caption "123" or "[1]" stays a string.
_TEXT_PARAMS = frozenset(
    {
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "description",
        "document",
        "emoji",
        "file_id",
        "ip_address",
        "language_code",
        "message_effect_id",
        "name",
        "parse_mode",
        "photo",
        "query",
        "secret_token",
        "short_description",
        "text",
        "title",
        "url",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_WELL_FORMED_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part of a multipart request, as the client sent it."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One Bot API request the fake answered, with parameters decoded from the wire."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    http_method: str = "POST"
    content_type: str = ""
    status: int = 200

    def attached(self, reference: str) -> UploadedFile:
        """The file an `attach://name` reference (or a bare part name) points to."""
        return self.files[reference.removeprefix("attach://")]

    def media_files(self) -> list[UploadedFile]:
        """The uploaded files of a sendMediaGroup call, in album order."""
        return [
            self.attached(item["media"])
            for item in self.params.get("media", [])
            if isinstance(item.get("media"), str) and item["media"].startswith("attach://")
        ]


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One attempt to POST an update to the bot's webhook."""

    update_id: int
    url: str
    status: int | None
    error: str | None


class BotApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and optional parameters."""

    def __init__(
        self, status: int, description: str, parameters: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = dict(parameters) if parameters else None

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(slots=True)
class _Failure:
    error: BotApiError
    remaining: int


@dataclass(frozen=True, slots=True)
class _Answer:
    """A success result that carries Telegram's optional `description` too."""

    result: Any
    description: str


@dataclass(frozen=True, slots=True)
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


class _Signal:
    """Wakes every waiter when state changes; waiters re-check their own predicate."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._event.wait()


Handler = Callable[[JSONDict, dict[str, UploadedFile]], Awaitable[Any]]


class FakeBotApi:
    """A Bot API server on 127.0.0.1 that records calls and serves updates and files.

    `async with FakeBotApi(token="123:ABC") as api:` then point PTB at `api.base_url` and
    `api.file_base_url`. Sending to an unknown chat id is allowed (the chat is inferred from
    the id); replying to an unknown message is refused, as Telegram does.
    """

    def __init__(
        self,
        token: str = "123:ABC",  # noqa: S107 - a fake bot token, not a secret
        *,
        username: str = "suo_test_bot",
        first_name: str = "suo test",
        can_join_groups: bool = True,
        can_read_all_group_messages: bool = False,
        member_statuses: Mapping[tuple[int, int], str] | None = None,
        group_messages_per_minute: int | None = None,
        clock: Callable[[], datetime] | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        bot_id, _, _ = token.partition(":")
        if not bot_id.isdigit():
            raise ValueError("a bot token starts with the bot's numeric id: '123:ABC'")
        self.token = token
        self.bot_id = int(bot_id)
        self.username = username
        self.first_name = first_name
        self.can_join_groups = can_join_groups
        self.can_read_all_group_messages = can_read_all_group_messages
        self.group_messages_per_minute = group_messages_per_minute
        self._clock = clock or (lambda: datetime.now(UTC))

        self.calls: list[ApiCall] = []
        self.downloads: list[str] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}

        self._member_statuses: dict[tuple[int, int], str] = {}
        for (chat_id, user_id), status in (member_statuses or {}).items():
            self.set_member_status(chat_id, user_id, status)
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._changed = _Signal()

        self._pending: deque[JSONDict] = deque()
        self._next_update_id = 10001
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._polls_waiting = 0
        self._webhook_url = ""
        self._webhook_secret: str | None = None
        self._webhook_paused = False
        self._webhook_last_error: tuple[int, str] | None = None

        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._sent: list[JSONDict] = []
        self._last_message_id: dict[int, int] = defaultdict(int)
        self._media_groups = itertools.count(13_000_000_000_000_000)
        self._callback_queries: set[str] = set()
        self._sent_at: dict[int, deque[datetime]] = defaultdict(deque)

        self._methods: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "sendChatAction": self._send_chat_action,
            "deleteMessage": self._delete_message,
            "getFile": self._get_file,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "answerCallbackQuery": self._answer_callback_query,
        }
        # Telegram matches method names case-insensitively.
        self._method_names = {name.lower(): name for name in self._methods}

        self._runner: web.AppRunner | None = None
        # A socket bound before the fake starts: a bot pointed at it is refused until then.
        self._sock = sock
        self._port = 0
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------

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
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site: web.BaseSite
        if self._sock is not None:
            site = web.SockSite(self._runner, self._sock)
        else:
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._webhook_task = asyncio.create_task(self._deliver_webhooks())

    async def close(self) -> None:
        self._closing = True
        self._changed.notify()  # ends pending long polls at once
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        if not self._port:
            raise RuntimeError("FakeBotApi is not started; use `async with FakeBotApi()`")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """PTB's `base_url`: it appends the token and then `/method`."""
        return f"{self.url}/bot"

    @property
    def file_base_url(self) -> str:
        """PTB's `base_file_url`: it appends the token and then `/file_path`."""
        return f"{self.url}/file/bot"

    @property
    def bot_user(self) -> JSONDict:
        return bot_user(self.bot_id, self.username) | {"first_name": self.first_name}

    # -- test controls -----------------------------------------------------------------

    def push_update(self, update: Mapping[str, Any]) -> JSONDict:
        """Queue an update (update_id assigned when absent); wakes long polls and webhooks."""
        queued = dict(update)
        if "update_id" in queued:
            self._next_update_id = max(self._next_update_id, int(queued["update_id"]) + 1)
        else:
            queued = {"update_id": self._next_update_id, **queued}
            self._next_update_id += 1
        self._learn_update(queued)
        self._pending.append(queued)
        self._webhook_paused = False
        self._changed.notify()
        return queued

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates offset or delivered to the webhook."""
        return list(self._pending)

    def add_file(
        self,
        file_id: str,
        data: bytes,
        *,
        file_unique_id: str | None = None,
        file_path: str | None = None,
    ) -> JSONDict:
        """Register a file for getFile and download; returns a dict to embed in updates.

        Images get `width` and `height` (a PhotoSize); other files are Document-like.
        """
        size = _image_size_or_none(data)
        if file_path is None:
            number = next(self._file_counter)
            file_path = f"photos/file_{number}.jpg" if size else f"documents/file_{number}.bin"
        stored = _StoredFile(
            file_id=file_id,
            file_unique_id=file_unique_id or _unique_id(data, file_id),
            file_path=file_path,
            data=data,
        )
        self._files[file_id] = stored
        self._files_by_path[file_path] = stored
        described: JSONDict = {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(data),
        }
        if size:
            described["width"], described["height"] = size
        return described

    def add_photo(self, data: bytes, *, recompress: bool = True) -> list[JSONDict]:
        """Register `data` the way Telegram stores a photo: a ladder of JPEG sizes.

        With `recompress` (the default, like Telegram) every size is re-encoded as JPEG at
        most 2560 px on its long side; without it every size keeps the original bytes.
        """
        ladder = _size_ladder(*_checked_photo_size(data))
        encoded = _jpeg_ladder(data, ladder) if recompress else [data] * len(ladder)
        sizes: list[JSONDict] = []
        for target, stored in zip(ladder, encoded, strict=True):
            number = next(self._file_counter)
            file_id = _new_file_id("AgACAgIAAxkBAAI", stored, number)
            sizes.append(
                self.add_file(file_id, stored, file_path=f"photos/file_{number}.jpg")
                | {"width": target[0], "height": target[1]}
            )
        return sizes

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id].data

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember answers for this user in this chat (default "member")."""
        if status not in CHAT_MEMBER_STATUSES:
            raise ValueError(f"status must be one of {CHAT_MEMBER_STATUSES}, not {status!r}")
        self._member_statuses[(chat_id, user_id)] = status

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with an error instead of running it.

        429 defaults to `retry_after=1` in `parameters`, which PTB raises as RetryAfter.
        """
        extra = dict(parameters or {})
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        if retry_after is not None:
            extra["retry_after"] = retry_after
        error = BotApiError(status, description or _default_description(status), extra)
        self._failures[method].append(_Failure(error, times))

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - a bounded wait is this helper's job
    ) -> list[ApiCall]:
        """Wait until `method` was called at least `count` times; returns those calls."""
        await self.wait_until(
            lambda: len(self.calls_to(method)) >= count,
            timeout=timeout,
            what=f"{count} call(s) to {method}",
        )
        return self.calls_to(method)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - a bounded wait is this helper's job
        what: str = "condition",
    ) -> None:
        """Wait, without polling, until `predicate()` holds after some fake state change."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait_until(predicate)
        except TimeoutError:
            seen = ", ".join(f"{call.method}->{call.status}" for call in self.calls) or "none"
            raise AssertionError(
                f"FakeBotApi: no {what} within {timeout}s; calls so far: {seen}"
            ) from None

    @property
    def long_polls_waiting(self) -> int:
        """getUpdates requests now held open, waiting for an update."""
        return self._polls_waiting

    async def wait_for_long_poll(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109 - a bounded wait is this helper's job
    ) -> None:
        """Wait until a getUpdates request is held open (calls are logged when they end)."""
        await self.wait_until(
            lambda: self._polls_waiting > 0, timeout=timeout, what="long poll waiting"
        )

    def sent_messages(self, chat_id: int | None = None) -> list[JSONDict]:
        """Messages the bot sent, oldest first, optionally in one chat."""
        return [m for m in self._sent if chat_id is None or m["chat"]["id"] == chat_id]

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        return self._messages.get((chat_id, message_id))

    def my_commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSONDict] | None:
        return self.commands.get((_scope_key(scope), language_code))

    @property
    def webhook_url(self) -> str:
        return self._webhook_url

    @property
    def webhook_secret_token(self) -> str | None:
        return self._webhook_secret

    # -- HTTP ---------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token != self.token:
            return _token_error(token)
        method = self._method_names.get(request.match_info["method"].lower())
        if method is None:
            return _json_response(BotApiError(404, "Not Found: method not found").payload(), 404)
        content_type = request.headers.get(hdrs.CONTENT_TYPE, "")
        try:
            params, files = await _read_parameters(request)
        except BotApiError as exc:
            return _json_response(exc.payload(), exc.status)
        status, payload = await self._dispatch(method, params, files)
        call = ApiCall(method, params, files, request.method, content_type, status)
        self.calls.append(call)
        self._changed.notify()
        return _json_response(payload, status)

    async def _dispatch(
        self, method: str, params: JSONDict, files: dict[str, UploadedFile]
    ) -> tuple[int, JSONDict]:
        failures = self._failures.get(method)
        if failures:
            failure = failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                failures.popleft()
            return failure.error.status, failure.error.payload()
        try:
            result = await self._methods[method](params, files)
        except BotApiError as exc:
            return exc.status, exc.payload()
        if isinstance(result, _Answer):
            return 200, {"ok": True, "result": result.result, "description": result.description}
        return 200, {"ok": True, "result": result}

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if token != self.token:
            return _token_error(token)
        file_path = request.match_info["file_path"]
        stored = self._files_by_path.get(file_path)
        if stored is None:
            return _json_response(BotApiError(404, "Not Found").payload(), 404)
        self.downloads.append(file_path)
        self._changed.notify()
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # -- updates ------------------------------------------------------------------------

    async def _get_me(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        return self.bot_user | {
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(
        self, params: JSONDict, files: dict[str, UploadedFile]
    ) -> list[JSONDict]:
        if self._webhook_url:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(_int_param(params, "timeout", 0), 0)
        if "allowed_updates" in params:
            self._allowed_updates = _allowed_updates(params["allowed_updates"])

        self._poll_generation += 1
        generation = self._poll_generation
        self._changed.notify()  # an older long poll still waiting now ends with 409
        self._confirm_updates(offset)
        if timeout and not self._deliverable():
            self._polls_waiting += 1
            self._changed.notify()
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_until(
                        lambda: (
                            self._closing
                            or generation != self._poll_generation
                            or bool(self._webhook_url)
                            or bool(self._deliverable())
                        )
                    )
            except TimeoutError:
                pass  # an empty answer after `timeout` seconds is how long polling ends
            finally:
                self._polls_waiting -= 1
        if generation != self._poll_generation:
            raise BotApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        if self._webhook_url:
            raise BotApiError(409, "Conflict: terminated by setWebhook request")
        return self._deliverable()[:limit]

    def _is_allowed(self, update: Mapping[str, Any]) -> bool:
        kind = _update_type(update)
        if self._allowed_updates is None:
            return kind not in OPT_IN_UPDATE_TYPES
        return kind in self._allowed_updates

    def _deliverable(self) -> list[JSONDict]:
        # Telegram never queues update types the bot did not ask for, so drop them here.
        self._pending = deque(u for u in self._pending if self._is_allowed(u))
        return list(self._pending)

    def _confirm_updates(self, offset: int) -> None:
        if offset > 0:
            while self._pending and self._pending[0]["update_id"] < offset:
                self._pending.popleft()
        elif offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()

    def _learn_update(self, update: JSONDict) -> None:
        """Remember chats, users and messages an update shows, as Telegram knows them."""
        self._learn_objects(update)
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            if isinstance(message := update.get(key), dict):
                self._store_message(message)
        if isinstance(query := update.get("callback_query"), dict):
            self._callback_queries.add(str(query["id"]))
            if isinstance(message := query.get("message"), dict):
                self._store_message(message)
        for key in ("my_chat_member", "chat_member"):
            if isinstance(change := update.get(key), dict):
                member = change["new_chat_member"]
                self._member_statuses[(change["chat"]["id"], member["user"]["id"])] = member[
                    "status"
                ]

    def _learn_objects(self, value: Any) -> None:
        if isinstance(value, dict):
            chat = value.get("chat")
            if isinstance(chat, dict) and "id" in chat and "type" in chat:
                self._chats[int(chat["id"])] = chat
            for key in ("from", "user", "sender_user"):
                person = value.get(key)
                if isinstance(person, dict) and "id" in person and "is_bot" in person:
                    self._users[int(person["id"])] = person
            for item in value.values():
                self._learn_objects(item)
        elif isinstance(value, list):
            for item in value:
                self._learn_objects(item)

    def _store_message(self, message: JSONDict) -> None:
        chat_id = int(message["chat"]["id"])
        message_id = int(message["message_id"])
        self._messages[(chat_id, message_id)] = message
        self._last_message_id[chat_id] = max(self._last_message_id[chat_id], message_id)

    # -- webhooks ------------------------------------------------------------------------

    async def _set_webhook(self, params: JSONDict, files: dict[str, UploadedFile]) -> _Answer:
        url = str(params.get("url", ""))
        if not url:
            return await self._delete_webhook(params, files)
        if urlsplit(url).scheme not in ("http", "https"):
            raise BotApiError(
                400, "Bad Request: bad webhook: HTTPS url must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise BotApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates") is True:
            self._pending.clear()
        if "allowed_updates" in params:
            self._allowed_updates = _allowed_updates(params["allowed_updates"])
        already = url == self._webhook_url and secret == self._webhook_secret
        self._webhook_url = url
        self._webhook_secret = None if secret is None else str(secret)
        self._webhook_paused = False
        self._webhook_last_error = None
        self._changed.notify()
        return _Answer(True, "Webhook is already set" if already else "Webhook was set")

    async def _delete_webhook(self, params: JSONDict, files: dict[str, UploadedFile]) -> _Answer:
        if params.get("drop_pending_updates") is True:
            self._pending.clear()
        had_webhook = bool(self._webhook_url)
        self._webhook_url = ""
        self._webhook_secret = None
        self._changed.notify()
        return _Answer(
            True, "Webhook was deleted" if had_webhook else "Webhook is already deleted"
        )

    async def _get_webhook_info(
        self, params: JSONDict, files: dict[str, UploadedFile]
    ) -> JSONDict:
        info: JSONDict = {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._deliverable()),
        }
        if self._webhook_url:
            info["max_connections"] = 40
            info["ip_address"] = "127.0.0.1"
            if self._webhook_last_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    async def _deliver_webhooks(self) -> None:
        """POST pending updates to the webhook in order; a failure waits for the next push."""
        while True:
            await self._changed.wait_until(
                lambda: bool(
                    self._webhook_url and not self._webhook_paused and self._deliverable()
                )
            )
            update = self._pending[0]
            url = self._webhook_url
            status, error = await self._post_update(url, update)
            if status is not None and 200 <= status < 300:
                if self._pending and self._pending[0] is update:
                    self._pending.popleft()
            else:
                self._webhook_paused = True
                message = error or f"Wrong response from the webhook: {status}"
                self._webhook_last_error = (int(self._clock().timestamp()), message)
            self.webhook_deliveries.append(
                WebhookDelivery(int(update["update_id"]), url, status, error)
            )
            self._changed.notify()

    async def _post_update(self, url: str, update: JSONDict) -> tuple[int | None, str | None]:
        host = urlsplit(url).hostname or ""
        if not _is_loopback(host):
            return None, "FakeBotApi delivers webhooks to loopback addresses only"
        headers: dict[str, str] = {hdrs.CONTENT_TYPE: "application/json"}
        if self._webhook_secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self._webhook_secret
        assert self._session is not None
        try:
            async with self._session.post(url, data=_dumps(update), headers=headers) as resp:
                await resp.read()
                return resp.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"Connection failed: {type(exc).__name__}"

    # -- sending ---------------------------------------------------------------------------

    async def _send_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._chat(params)
        formatted = _formatted_text(
            params.get("text"),
            params.get("parse_mode"),
            params.get("entities"),
            limit=MAX_TEXT_LENGTH,
            too_long="Bad Request: message is too long",
        )
        if formatted is None:
            raise BotApiError(400, "Bad Request: message text is empty")
        text, entities = formatted
        reply_to = self._reply_target(chat, params)
        self._check_flood(chat["id"], 1)
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        options = params.get("link_preview_options")
        if isinstance(options, dict) and any(e["type"] in ("url", "text_link") for e in entities):
            content["link_preview_options"] = options
        return self._post(chat, content, reply_to, params)

    async def _send_photo(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._chat(params)
        sizes = self._photo_sizes(params.get("photo"), files.get("photo"), files)
        caption = self._caption(params)
        reply_to = self._reply_target(chat, params)
        self._check_flood(chat["id"], 1)
        return self._post(chat, {"photo": sizes, **caption}, reply_to, params)

    async def _send_document(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._chat(params)
        document = self._document(params.get("document"), files.get("document"), files)
        caption = self._caption(params)
        reply_to = self._reply_target(chat, params)
        self._check_flood(chat["id"], 1)
        return self._post(chat, {"document": document, **caption}, reply_to, params)

    async def _send_media_group(
        self, params: JSONDict, files: dict[str, UploadedFile]
    ) -> list[JSONDict]:
        chat = self._chat(params)
        media = params.get("media")
        if media is None:
            raise BotApiError(400, 'Bad Request: parameter "media" is required')
        if not isinstance(media, list) or not all(isinstance(item, dict) for item in media):
            raise BotApiError(400, "Bad Request: can't parse media JSON object")
        if not media:
            raise BotApiError(400, "Bad Request: there are no messages to send")
        if len(media) > MAX_ALBUM_SIZE:
            raise BotApiError(400, "Bad Request: too many messages to send as an album")
        kinds = [_album_kind(item.get("type")) for item in media]
        if "document" in kinds and any(kind != "document" for kind in kinds):
            raise BotApiError(400, "Bad Request: document can't be mixed with other media types")
        contents: list[JSONDict] = []
        for number, (kind, item) in enumerate(zip(kinds, media, strict=True), start=1):
            reference = item.get("media")
            if not reference:
                # What PTB sends for InputMediaPhoto(InputFile(...)) without attach=True.
                raise BotApiError(400, "Bad Request: can't parse InputMedia: media not found")
            upload = _attachment(reference, files)
            try:
                if kind == "photo":
                    content: JSONDict = {"photo": self._photo_sizes(reference, upload, files)}
                else:
                    content = {"document": self._document(reference, upload, files)}
            except BotApiError as exc:
                raise BotApiError(
                    exc.status,
                    f"Bad Request: failed to send message #{number} with the error message "
                    f'"{_capitalized(exc.description.removeprefix("Bad Request: "))}"',
                ) from None
            contents.append(content | self._caption(item))
        reply_to = self._reply_target(chat, params)
        self._check_flood(chat["id"], len(contents))
        group_id = str(next(self._media_groups)) if len(contents) > 1 else None
        # An album carries no reply_markup: Telegram ignores it for sendMediaGroup.
        plain = {k: v for k, v in params.items() if k != "reply_markup"}
        messages = []
        for content in contents:
            if group_id is not None:
                content = {"media_group_id": group_id, **content}
            messages.append(self._post(chat, content, reply_to, plain))
        return messages

    async def _send_chat_action(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        self._chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise BotApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _delete_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        chat = self._chat(params)
        key = (int(chat["id"]), _int_param(params, "message_id", 0))
        if self._messages.pop(key, None) is None:
            raise BotApiError(400, "Bad Request: message to delete not found")
        return True

    def _post(
        self,
        chat: JSONDict,
        content: JSONDict,
        reply_to: JSONDict | None,
        params: JSONDict,
    ) -> JSONDict:
        chat_id = int(chat["id"])
        self._last_message_id[chat_id] += 1
        message: JSONDict = {
            "message_id": self._last_message_id[chat_id],
            "from": self.bot_user,
            "chat": chat,
            "date": int(self._clock().timestamp()),
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        self._messages[(chat_id, message["message_id"])] = message
        self._sent.append(message)
        return message

    def _chat(self, params: JSONDict) -> JSONDict:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise BotApiError(400, "Bad Request: chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self._chats.values():
                if str(chat.get("username", "")).lower() == raw[1:].lower():
                    return chat
            raise BotApiError(400, "Bad Request: chat not found")
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise BotApiError(400, "Bad Request: chat not found")
        try:
            chat_id = int(raw)
        except ValueError:
            raise BotApiError(400, "Bad Request: chat not found") from None
        if chat_id in self._chats:
            return self._chats[chat_id]
        if chat_id < 0:
            return group_chat(chat_id, f"Group {chat_id}")
        person = self._users.get(chat_id, {"first_name": f"User {chat_id}"})
        return {"id": chat_id, "first_name": person["first_name"], "type": "private"}

    def _reply_target(self, chat: JSONDict, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if reply is None and "reply_to_message_id" in params:
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if reply is None:
            return None
        if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
            raise BotApiError(400, "Bad Request: can't parse reply parameters JSON object")
        target_chat = self._chat({"chat_id": reply.get("chat_id", chat["id"])})
        target = self._messages.get((int(target_chat["id"]), reply["message_id"]))
        if target is None:
            if reply.get("allow_sending_without_reply") is True:
                return None
            raise BotApiError(400, "Bad Request: message to be replied not found")
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _caption(self, params: JSONDict) -> JSONDict:
        formatted = _formatted_text(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            limit=MAX_CAPTION_LENGTH,
            too_long="Bad Request: message caption is too long",
        )
        if formatted is None:
            return {}
        caption, entities = formatted
        content: JSONDict = {"caption": caption}
        if entities:
            content["caption_entities"] = entities
        if params.get("show_caption_above_media") is True:
            content["show_caption_above_media"] = True
        return content

    def _photo_sizes(
        self, reference: Any, upload: UploadedFile | None, files: dict[str, UploadedFile]
    ) -> list[JSONDict]:
        if upload is None:
            upload = _attachment(reference, files)
        if upload is not None:
            if len(upload.data) > MAX_PHOTO_UPLOAD_SIZE:
                raise BotApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
            return self.add_photo(upload.data, recompress=False)
        stored = self._stored_reference(reference, "photo")
        size = _image_size_or_none(stored.data)
        if size is None:
            raise BotApiError(400, "Bad Request: type of file mismatch")
        width, height = size
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data),
                "width": width,
                "height": height,
            }
        ]

    def _document(
        self, reference: Any, upload: UploadedFile | None, files: dict[str, UploadedFile]
    ) -> JSONDict:
        if upload is None:
            upload = _attachment(reference, files)
        if upload is not None:
            number = next(self._file_counter)
            suffix = upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else "bin"
            file_id = _new_file_id("BQACAgIAAxkBAAI", upload.data, number)
            stored = self.add_file(
                file_id, upload.data, file_path=f"documents/file_{number}.{suffix}"
            )
            return {
                "file_name": upload.filename,
                "mime_type": upload.content_type,
                "file_id": stored["file_id"],
                "file_unique_id": stored["file_unique_id"],
                "file_size": stored["file_size"],
            }
        found = self._stored_reference(reference, "document")
        return {
            "file_id": found.file_id,
            "file_unique_id": found.file_unique_id,
            "file_size": len(found.data),
        }

    def _stored_reference(self, reference: Any, field: str) -> _StoredFile:
        if reference is None or reference == "":
            raise BotApiError(400, f"Bad Request: there is no {field} in the request")
        text = str(reference)
        if text.startswith(("http://", "https://")):
            # The fake is offline: like Telegram failing to fetch an unreachable URL.
            raise BotApiError(400, "Bad Request: failed to get HTTP URL content")
        stored = self._files.get(text)
        if stored is None:
            raise BotApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return stored

    def _check_flood(self, chat_id: int, count: int) -> None:
        limit = self.group_messages_per_minute
        if limit is None or chat_id >= 0:
            return
        now = self._clock()
        window = self._sent_at[chat_id]
        while window and (now - window[0]).total_seconds() >= 60:
            window.popleft()
        if len(window) + count > limit:
            frees_slot = window[max(len(window) + count - limit - 1, 0)]
            retry_after = max(math.ceil(60 - (now - frees_slot).total_seconds()), 1)
            raise BotApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        window.extend([now] * count)

    # -- files, members, commands, callbacks -------------------------------------------

    async def _get_file(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise BotApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_SIZE:
            raise BotApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _get_chat_member(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat = self._chat(params)
        user_id = _int_param(params, "user_id", 0)
        if user_id <= 0:
            raise BotApiError(400, "Bad Request: invalid user_id specified")
        status = self._member_statuses.get((int(chat["id"]), user_id), "member")
        return chat_member(self._user(user_id), status)

    async def _get_chat_administrators(
        self, params: JSONDict, files: dict[str, UploadedFile]
    ) -> list[JSONDict]:
        chat_id = int(self._chat(params)["id"])
        return [
            chat_member(self._user(user_id), status)
            for (member_chat, user_id), status in sorted(self._member_statuses.items())
            if member_chat == chat_id and status in ("creator", "administrator")
        ]

    def _user(self, user_id: int) -> JSONDict:
        if user_id == self.bot_id:
            return self.bot_user
        return self._users.get(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        )

    async def _set_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise BotApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND.fullmatch(
                str(command.get("command", ""))
            ):
                raise BotApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise BotApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = (_scope_key(params.get("scope")), str(params.get("language_code", "")))
        self.commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(
        self, params: JSONDict, files: dict[str, UploadedFile]
    ) -> list[JSONDict]:
        key = (_scope_key(params.get("scope")), str(params.get("language_code", "")))
        return self.commands.get(key, [])

    async def _delete_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        key = (_scope_key(params.get("scope")), str(params.get("language_code", "")))
        self.commands.pop(key, None)
        return True

    async def _answer_callback_query(
        self, params: JSONDict, files: dict[str, UploadedFile]
    ) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._callback_queries:
            raise BotApiError(
                400,
                "Bad Request: query is too old and response timeout expired "
                "or query ID is invalid",
            )
        self._callback_queries.discard(query_id)
        return True


# -- request parsing -------------------------------------------------------------------------


def _decode_param(name: str, raw: str) -> Any:
    """Decode one form value the way the Bot API types it: JSON unless it is free text."""
    if name in _TEXT_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


async def _read_parameters(request: web.Request) -> tuple[JSONDict, dict[str, UploadedFile]]:
    params: JSONDict = {k: _decode_param(k, v) for k, v in request.query.items()}
    files: dict[str, UploadedFile] = {}
    if not request.body_exists:
        return params, files
    content_type = request.content_type
    if content_type == "multipart/form-data":
        reader = await request.multipart()
        total = 0
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                raise BotApiError(400, "Bad Request: can't parse multipart request")
            if part.filename is not None:
                data = bytes(await part.read())
                total += len(data)
                part_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
                files[part.name] = UploadedFile(part.filename, part_type, data)
            else:
                text = await part.text()
                total += len(text)
                params[part.name] = _decode_param(part.name, text)
            if total > MAX_UPLOAD_SIZE:
                raise BotApiError(413, "Request Entity Too Large")
    elif content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = _decode_param(key, value)
    elif content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise BotApiError(400, "Bad Request: can't parse JSON request") from None
        if not isinstance(body, dict):
            raise BotApiError(400, "Bad Request: can't parse JSON request")
        for key, value in body.items():
            decoded = value
            if isinstance(value, str) and key not in _TEXT_PARAMS and value[:1] in ("{", "["):
                decoded = _decode_param(key, value)
            params[key] = decoded
    return params, files


def _int_param(params: JSONDict, name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool):
        raise BotApiError(400, f"Bad Request: invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BotApiError(400, f"Bad Request: invalid {name} specified") from None


def _allowed_updates(value: Any) -> frozenset[str] | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BotApiError(400, "Bad Request: can't parse allowed updates JSON object")
    return frozenset(value) or None


def _update_type(update: Mapping[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


def _attachment(reference: Any, files: dict[str, UploadedFile]) -> UploadedFile | None:
    if not isinstance(reference, str) or not reference.startswith("attach://"):
        return None
    upload = files.get(reference.removeprefix("attach://"))
    if upload is None:
        raise BotApiError(400, "Bad Request: can't parse InputMedia: media not found")
    return upload


def _album_kind(kind: Any) -> str:
    if kind in ("photo", "document"):
        return str(kind)
    if kind in ("video", "audio"):
        raise BotApiError(501, f"Not Implemented: FakeBotApi does not send {kind} albums")
    if kind == "animation":
        raise BotApiError(
            400,
            "Bad Request: can't parse InputMedia: type \"animation\" can't be used in "
            "sendMediaGroup",
        )
    raise BotApiError(400, f'Bad Request: can\'t parse InputMedia: type "{kind}" is unsupported')


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _scope_key(scope: Any) -> str:
    return json.dumps(scope if isinstance(scope, dict) else {"type": "default"}, sort_keys=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- responses ---------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_response(payload: JSONDict, status: int) -> web.Response:
    return web.json_response(payload, status=status, dumps=_dumps)


def _token_error(token: str) -> web.Response:
    # Telegram answers 401 for a well-formed token it does not know, 404 for a malformed one.
    if _WELL_FORMED_TOKEN.fullmatch(token):
        return _json_response(BotApiError(401, "Unauthorized").payload(), 401)
    return _json_response(BotApiError(404, "Not Found").payload(), 404)


def _default_description(status: int) -> str:
    return {
        400: "Bad Request",
        403: "Forbidden: bot was kicked from the supergroup chat",
        404: "Not Found",
        409: "Conflict",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(status, f"Error {status}")


# -- text formatting ---------------------------------------------------------------------------

_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_START_TAG = re.compile(
    r"<([a-zA-Z][a-zA-Z0-9-]*)"
    r"((?:\s+[a-zA-Z][a-zA-Z-]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*>"
)
_ATTRIBUTE = re.compile(r"([a-zA-Z][a-zA-Z-]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_CHAR_REFERENCE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _formatted_text(
    text: Any,
    parse_mode: Any,
    entities: Any,
    *,
    limit: int,
    too_long: str,
) -> tuple[str, list[JSONDict]] | None:
    """Text and entities as Telegram stores them, or None when the text is empty."""
    if text is None:
        return None
    text = str(text)
    mode = str(parse_mode or "").lower()
    if mode == "html":
        text, found = _parse_html(text)
    elif mode in ("markdown", "markdownv2"):
        raise BotApiError(
            501, f"Not Implemented: FakeBotApi parses parse_mode HTML only, not {parse_mode}"
        )
    elif mode:
        raise BotApiError(400, "Bad Request: unsupported parse_mode")
    elif isinstance(entities, list):
        found = [dict(e) for e in entities if isinstance(e, dict)]
    else:
        found = []
    text, found = _trimmed(text, found)
    if not text:
        return None
    if utf16_len(text) > limit:
        raise BotApiError(400, too_long)
    found = _with_detected_entities(text, found)
    return text, found


def _trimmed(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    stripped = text.strip(" \t\r\n")
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip(" \t\r\n"))])
    size = utf16_len(stripped)
    kept: list[JSONDict] = []
    for entity in entities:
        start = max(int(entity["offset"]) - shift, 0)
        end = min(int(entity["offset"]) + int(entity["length"]) - shift, size)
        if end > start:
            kept.append(entity | {"offset": start, "length": end - start})
    return stripped, kept


def _with_detected_entities(text: str, entities: list[JSONDict]) -> list[JSONDict]:
    size = utf16_len(text)
    kept = [e for e in entities if e["offset"] >= 0 and e["offset"] + e["length"] <= size]
    taken = [(e["offset"], e["offset"] + e["length"]) for e in kept]
    for found in detect_entities(text):
        start, end = found["offset"], found["offset"] + found["length"]
        if all(end <= s or start >= e for s, e in taken):
            kept.append(found)
    return sorted(kept, key=lambda e: (e["offset"], -e["length"]))


def _parse_error(message: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: can't parse entities: {message}")


def _parse_html(source: str) -> tuple[str, list[JSONDict]]:
    """Telegram's HTML parse mode: supported tags become entities, anything else is refused."""
    pieces: list[str] = []
    length = 0  # UTF-16 units written so far
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[JSONDict] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "<":
            byte_offset = len(source[:i].encode())
            if source.startswith("</", i):
                end = source.find(">", i)
                if end == -1:
                    raise _parse_error(f"Unclosed end tag at byte offset {byte_offset}")
                name = source[i + 2 : end].strip().lower()
                if not stack:
                    raise _parse_error(f"Unexpected end tag at byte offset {byte_offset}")
                open_name, start, attributes = stack.pop()
                if name != open_name:
                    raise _parse_error(
                        f"Unmatched end tag at byte offset {byte_offset}, "
                        f'expected "</{open_name}>", found "</{name}>"'
                    )
                entity = _html_entity(open_name, attributes, start, length - start, stack)
                if entity is not None:
                    entities.append(entity)
                i = end + 1
                continue
            match = _START_TAG.match(source, i)
            name = match.group(1).lower() if match else _tag_name(source, i + 1)
            attributes = _attributes(match.group(2)) if match else {}
            unsupported = name not in _HTML_ENTITY_TYPES or (
                name == "span" and attributes.get("class") != "tg-spoiler"
            )
            if match is None or unsupported:
                raise _parse_error(f'Unsupported start tag "{name}" at byte offset {byte_offset}')
            stack.append((name, length, attributes))
            i = match.end()
            continue
        if char == "&" and (reference := _CHAR_REFERENCE.match(source, i)):
            piece = _decoded_reference(reference)
            i = reference.end()
        else:
            piece = char
            i += 1
        pieces.append(piece)
        length += utf16_len(piece)
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(pieces), entities


def _tag_name(source: str, start: int) -> str:
    end = start
    while end < len(source) and (source[end].isalnum() or source[end] == "-"):
        end += 1
    return source[start:end].lower()


def _attributes(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(raw):
        value = next((v for v in match.groups()[1:] if v is not None), "")
        found[match.group(1).lower()] = _CHAR_REFERENCE.sub(_decoded_reference, value)
    return found


def _decoded_reference(match: re.Match[str]) -> str:
    decimal, hexadecimal, named = match.groups()
    if named:
        return _NAMED_REFERENCES[named]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return match.group(0)
    return chr(code)


def _html_entity(
    name: str,
    attributes: dict[str, str],
    offset: int,
    length: int,
    stack: list[tuple[str, int, dict[str, str]]],
) -> JSONDict | None:
    language = attributes.get("class", "")
    if name == "code" and language.startswith("language-") and stack:
        parent_name, parent_offset, parent_attributes = stack[-1]
        if parent_name == "pre" and parent_offset == offset:
            parent_attributes["language"] = language.removeprefix("language-")
            return None
    if length == 0:
        return None
    entity: JSONDict = {"offset": offset, "length": length, "type": _HTML_ENTITY_TYPES[name]}
    if name == "a":
        url = _normalized_link(attributes.get("href", ""))
        if not url:
            return None
        entity["url"] = url
    elif name == "pre" and "language" in attributes:
        entity["language"] = attributes["language"]
    elif name == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        entity["custom_emoji_id"] = attributes.get("emoji-id", "")
    return entity


def _normalized_link(href: str) -> str:
    """Telegram stores links with a scheme and, for a bare host, a trailing slash."""
    href = href.strip()
    if not href:
        return ""
    if "://" not in href and not href.startswith(("tg:", "mailto:")):
        href = f"http://{href}"
    parts = urlsplit(href)
    if parts.scheme in ("http", "https") and not parts.path and not parts.query:
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        return f"{parts.scheme}://{parts.netloc}/{fragment}"
    return href


# -- images --------------------------------------------------------------------------------------


def _image_size_or_none(data: bytes) -> tuple[int, int] | None:
    try:
        return _image_size(data)
    except BotApiError:
        return None


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the image header (no full decode), as Telegram validates them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise BotApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS") from None
    except (OSError, ValueError, SyntaxError):
        raise BotApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
    return width, height


def _checked_photo_size(data: bytes) -> tuple[int, int]:
    width, height = _image_size(data)
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise BotApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    return width, height


def _size_ladder(width: int, height: int) -> list[tuple[int, int]]:
    """Telegram's photo sizes: 90/320/800/1280 thumbnails below the original, capped at 2560."""
    longest = max(width, height)
    targets = [t for t in (90, 320, 800, 1280) if t < longest] + [min(longest, 2560)]
    return [
        (max(round(width * t / longest), 1), max(round(height * t / longest), 1)) for t in targets
    ]


def _jpeg_ladder(data: bytes, sizes: list[tuple[int, int]]) -> list[bytes]:
    """`data` re-encoded as a JPEG at each size, decoding the source once."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", sizes[-1])  # JPEG sources decode at a reduced scale: cheap
        source = image.convert("RGB")
    encoded: list[bytes] = []
    for size in sizes:
        out = io.BytesIO()
        resized = source if size == source.size else source.resize(size, reducing_gap=2.0)
        resized.save(out, format="JPEG", quality=87)
        encoded.append(out.getvalue())
    return encoded


def _unique_id(data: bytes, salt: str) -> str:
    return "AQAD" + hashlib.sha256(data + salt.encode()).hexdigest()[:12]


def _new_file_id(prefix: str, data: bytes, number: int) -> str:
    return f"{prefix}{number:05d}{hashlib.sha256(data).hexdigest()[:24]}"

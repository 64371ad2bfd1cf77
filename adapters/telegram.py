"""Telegram adapter: python-telegram-bot updates in, core replies out as threaded messages.

Owns everything Telegram-specific: entities, photo sizes, captions (1,024), media groups
(2-10), command menus, rate limits and retries, file-size caps, privacy mode, admin checks
(getChatMember, asked only when a command needs it), webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
    Chat,
    ChatMember,
    ChatMemberUpdated,
    InputMediaPhoto,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType, MessageLimit
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from bot.commands import parse_command
from bot.config import TelegramConfig
from bot.core import Core
from bot.i18n import translate
from bot.model import ChatKind, ImageSource, IncomingMessage, Reply, ReplyImage, Sender
from bot.urls import Entity, find_urls

log = logging.getLogger(__name__)

PLATFORM = "telegram"
# Command menus by the reader's app language (None: any other, shown in both languages).
_MENU_LANGUAGES: tuple[tuple[str | None, str | None], ...] = (
    (None, None),
    ("zh", "zh-CN"),
    ("en", "en"),
)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_MEDIA_GROUP = 10
ALLOWED_UPDATES = [Update.MESSAGE, Update.MY_CHAT_MEMBER]
_SEND_ATTEMPTS = 3
# Between attempts to reach an unreachable Bot API: 1, 2, 4... s, then every minute.
CONNECT_WAIT = wait_exponential(multiplier=1, min=1, max=60)


def _worth_resending(error: BaseException) -> bool:
    # TimedOut: the request may have arrived, a retry could post the reply twice.
    # BadRequest (PTB files it under NetworkError) will fail the same way again.
    return isinstance(error, NetworkError) and not isinstance(error, TimedOut | BadRequest)


def _unreachable(error: BaseException) -> bool:
    # A refused connection, a timeout, a 5xx: the Bot API may answer later. BadRequest (filed
    # under NetworkError) and InvalidToken will not change by waiting.
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def _log_send_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "telegram send failed (attempt %d): %s", state.attempt_number, type(error).__name__
    )


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def build_application(config: TelegramConfig) -> Application[Any, Any, Any, Any, Any, Any]:
    """PTB's Application, wired to the configured Bot API (real or self-hosted or a fake)."""
    builder = (
        Application.builder()
        .token(config.token)
        .base_url(config.api_base_url)
        .base_file_url(config.file_base_url)
        # Honours RetryAfter (429) and keeps under Telegram's 30 msg/s and 20 msg/min/group.
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(8)
    )
    if config.mode == "webhook":
        builder = builder.updater(None)
    return builder.build()


class TelegramAdapter:
    def __init__(
        self,
        core: Core,
        config: TelegramConfig,
        *,
        public_url: str,
        application: Application[Any, Any, Any, Any, Any, Any] | None = None,
    ) -> None:
        # httpx logs every request URL at INFO, and Bot API URLs contain the token.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._core = core
        self._config = config
        self._public_url = public_url.rstrip("/")
        self.application = application or build_application(config)
        self._admins: dict[tuple[int, int], tuple[float, bool]] = {}
        self._username = ""
        self._can_read_all = True
        self._connecting: asyncio.Task[None] | None = None
        self.application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_message))
        self.application.add_handler(
            ChatMemberHandler(self._on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        self.application.add_error_handler(self._on_error)

    @property
    def webhook_url(self) -> str:
        return self._public_url + self._config.webhook_path

    async def start(self) -> None:
        """Connect to the Bot API, then poll (or set the webhook). A refused token raises
        InvalidToken. While the Bot API is unreachable, start() returns after the first attempt
        and the adapter keeps trying in the background (`connecting`), so the rest of the
        process serves meanwhile."""
        if self.application.running or self._connecting is not None:
            raise RuntimeError("the telegram adapter is already running")
        first_missed = asyncio.Event()
        connecting = asyncio.create_task(self._connect(first_missed))
        missed = asyncio.create_task(first_missed.wait())
        try:
            await asyncio.wait({connecting, missed}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            connecting.cancel()
            raise
        finally:
            missed.cancel()
        if connecting.done():
            connecting.result()  # a refused token (or any error that is not a network one)
        else:
            self._connecting = connecting

    @property
    def connecting(self) -> asyncio.Task[None] | None:
        """The background attempts while the Bot API is unreachable: done once connected, or
        raising what ended them (InvalidToken when a later answer refuses the token)."""
        return self._connecting

    async def _connect(self, first_missed: asyncio.Event) -> None:
        def log_unreachable(state: RetryCallState) -> None:
            first_missed.set()
            error = state.outcome.exception() if state.outcome is not None else None
            delay = state.next_action.sleep if state.next_action is not None else 0
            # One line per attempt: PTB's traceback would say nothing more an operator can use.
            log.warning(
                "telegram Bot API unreachable at %s (%s: %s): next try in %.0f s",
                self._api_origin,
                type(error).__name__,
                error,
                delay,
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception(_unreachable),
            wait=CONNECT_WAIT,
            before_sleep=log_unreachable,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._start_once()

    @property
    def _api_origin(self) -> str:
        # The base URL without its path: PTB appends the token to the path.
        url = urlsplit(self._config.api_base_url)
        return f"{url.scheme}://{url.netloc}"

    async def _start_once(self) -> None:
        app = self.application
        try:
            await app.initialize()  # getMe: a wrong token is refused here
            self._username = app.bot.username
            self._can_read_all = bool(app.bot.can_read_all_group_messages)
            await self._set_command_menus()
            await app.start()
            await self._receive_updates()
        except NetworkError:
            await self._halt()  # the next attempt starts again from getMe
            raise
        log.info(
            "telegram bot @%s ready (mode=%s, reads all group messages=%s)",
            self._username,
            self._config.mode,
            self._can_read_all,
        )

    async def _receive_updates(self) -> None:
        bot = self.application.bot
        if self._config.mode == "webhook":
            await bot.set_webhook(
                self.webhook_url,
                secret_token=self._config.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("telegram webhook set to %s", self.webhook_url)
        else:
            await bot.delete_webhook()
            updater = self.application.updater
            assert updater is not None  # noqa: S101 - polling mode builds an Updater
            await updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, error_callback=self._on_polling_error
            )

    async def _set_command_menus(self) -> None:
        """Members see their commands; group admins and private chats (where the member is the
        admin) see the admins' too. Telegram picks the narrowest scope that applies, and the
        reader's app language: zh and en readers get theirs, others both languages."""
        bot = self.application.bot
        try:
            for language_code, lang in _MENU_LANGUAGES:
                entries = self._core.menu(PLATFORM, lang)
                everyone = [
                    BotCommand(e.name, e.description) for e in entries if not e.admins_only
                ]
                admins = [BotCommand(e.name, e.description) for e in entries]
                for commands, scope in (
                    (everyone, BotCommandScopeDefault()),
                    (admins, BotCommandScopeAllChatAdministrators()),
                    (admins, BotCommandScopeAllPrivateChats()),
                ):
                    await bot.set_my_commands(commands, scope=scope, language_code=language_code)
        except TelegramError as e:
            log.warning("telegram setMyCommands failed: %s", type(e).__name__)

    async def stop(self) -> None:
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await connecting
        await self._halt()
        await self.application.shutdown()  # a no-op when it was never initialized

    async def _halt(self) -> None:
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()

    @property
    def uses_webhook(self) -> bool:
        return self._config.mode == "webhook"

    def mount(self, web_app: web.Application) -> None:
        """Serve the webhook on `web_app` (the redirector's: one port for both) and run the bot
        for exactly as long as `web_app` runs.

        The route and the bot that processes its updates start and stop together, so no
        process can acknowledge Telegram's POSTs without handling them: a scale-out
        `suo redirector` behind a load balancer answers updates like `suo run` does.
        """
        if not self.uses_webhook:
            raise RuntimeError("mount() is for webhook mode; polling runs with start()")
        web_app.router.add_post(self._config.webhook_path, self.webhook)
        web_app.cleanup_ctx.append(self._run_with_web_app)

    async def _run_with_web_app(self, web_app: web.Application) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        secret = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(secret.encode(), self._config.webhook_secret.encode()):
            log.warning("telegram webhook refused: wrong secret from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        if not self.application.running:
            # Never acknowledge what nothing will process: Telegram retries non-2xx answers.
            log.warning("telegram webhook update refused: the bot is not running")
            return web.Response(status=503, text="not running")
        try:
            update = parse_update(await request.json(), self.application.bot)
        except (json.JSONDecodeError, UnicodeDecodeError):
            update = None
        if update is None:
            log.warning("telegram webhook refused: malformed update body")
            return web.Response(status=400, text="malformed update")
        # Answer at once; the application's queue does the work off the request.
        await self.application.update_queue.put(update)
        return web.Response(text="ok")

    def _on_polling_error(self, error: TelegramError) -> None:
        # PTB retries polling with backoff by itself; one line per failure, never the token.
        log.warning("telegram polling error: %s", type(error).__name__)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat_id = update_id = None
        if isinstance(update, Update):
            update_id = update.update_id
            chat_id = update.effective_chat.id if update.effective_chat else None
        log.error(
            "telegram update failed update_id=%s chat=%s: %s",
            update_id,
            chat_id,
            type(context.error).__name__,
            exc_info=context.error,
        )

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        incoming = await self.to_incoming(message)
        if incoming is None:
            return
        for reply in await self._core.handle(incoming):
            await self._send(message, reply)

    async def _on_my_chat_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change: ChatMemberUpdated | None = update.my_chat_member
        if change is None or change.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
            return
        was_in = change.old_chat_member.status in (
            ChatMember.MEMBER,
            ChatMember.ADMINISTRATOR,
            ChatMember.OWNER,
        )
        is_in = change.new_chat_member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR)
        if was_in or not is_in:
            return
        chat = change.chat
        lang = await self._core.group_language(PLATFORM, str(chat.id), chat.title or "")
        text = self._core.help_text(lang, PLATFORM)
        if not self._can_read_all and change.new_chat_member.status == ChatMember.MEMBER:
            text += "\n\n" + translate(lang, "telegram_privacy_mode")
        log.info("telegram bot added to chat=%s", chat.id)
        await self._call(
            lambda: context.bot.send_message(
                chat.id, text, link_preview_options=self._preview_options()
            )
        )

    async def to_incoming(self, message: Message) -> IncomingMessage | None:
        """The core's view of a Telegram message, or None when it is not for us."""
        chat = message.chat
        if chat.type == ChatType.CHANNEL:
            return None
        text = message.text or message.caption or ""
        if not isinstance(text, str):
            # PTB takes the Bot API's JSON types on trust; text of another type (a buggy
            # self-hosted Bot API, a forged webhook call) is no message to answer.
            return None
        raw_entities: Sequence[MessageEntity] = message.entities or message.caption_entities
        command = parse_command(text)
        if command is not None and command.addressed_to:
            if command.addressed_to.lower() != self._username.lower():
                return None  # /cmd@another_bot
            text = text.replace("@" + command.addressed_to, "", 1)
            raw_entities = ()  # offsets moved; commands carry their URL in plain text
        entities = [
            Entity(
                "text_link" if e.type == MessageEntity.TEXT_LINK else "url",
                e.offset,
                e.length,
                e.url,
            )
            for e in raw_entities
            if e.type in (MessageEntity.URL, MessageEntity.TEXT_LINK)
        ]
        urls = find_urls(text, entities) if raw_entities else find_urls(text)
        images = self._images(message)
        if not text and not images:
            return None
        sender, anonymous_admin = self._sender(message)
        is_private = chat.type == ChatType.PRIVATE
        is_admin = is_private or anonymous_admin
        user = message.from_user
        ask_is_admin = None
        if not is_admin and user is not None:
            ask_is_admin = partial(self.is_admin, chat.id, user.id)
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=str(chat.id),
            chat_title=chat.title or chat.full_name or str(chat.id),
            chat_kind=ChatKind.PRIVATE if is_private else ChatKind.GROUP,
            sender=sender,
            text=text,
            urls=urls,
            images=images,
            is_admin=is_admin,
            ask_is_admin=ask_is_admin,
            message_id=str(message.message_id),
        )

    def _sender(self, message: Message) -> tuple[Sender, bool]:
        sender_chat = message.sender_chat
        if sender_chat is not None:
            # Anonymous group admins post as the group itself; linked channels as the channel.
            name = sender_chat.title or sender_chat.username or str(sender_chat.id)
            return Sender(f"chat:{sender_chat.id}", name), sender_chat.id == message.chat.id
        user = message.from_user
        if user is None:
            return Sender("unknown", "unknown"), False
        return Sender(str(user.id), user.full_name or user.username or str(user.id)), False

    def _images(self, message: Message) -> tuple[ImageSource, ...]:
        bot = self.application.bot

        def loader(file_id: str) -> Callable[[], Awaitable[bytes]]:
            async def load() -> bytes:
                file = await bot.get_file(file_id)
                return bytes(await file.download_as_bytearray())

            return load

        if message.photo:
            largest = message.photo[-1]  # Telegram lists sizes smallest first
            name = f"photo_{largest.file_unique_id}.jpg"
            return (ImageSource(name, largest.file_size, loader(largest.file_id)),)
        document = message.document
        if document is not None and (document.mime_type or "").startswith("image/"):
            name = document.file_name or f"document_{document.file_unique_id}"
            return (ImageSource(name, document.file_size, loader(document.file_id)),)
        return ()

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        """getChatMember, cached for a few minutes: admin lists change rarely."""
        key = (chat_id, user_id)
        now = time.monotonic()
        cached = self._admins.get(key)
        if cached is not None and now - cached[0] < self._config.admin_cache_seconds:
            return cached[1]
        try:
            member = await self.application.bot.get_chat_member(chat_id, user_id)
        except TelegramError as e:
            log.warning("telegram getChatMember failed chat=%s: %s", chat_id, type(e).__name__)
            return False
        admin = member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER)
        self._admins[key] = (now, admin)
        return admin

    def _preview_options(self) -> LinkPreviewOptions:
        # Off by default so Telegram's preview fetcher does not click our own short links.
        return LinkPreviewOptions(is_disabled=not self._config.link_previews)

    async def _call(self, send: Callable[[], Awaitable[object]]) -> None:
        """Send, retrying connection failures with backoff (429s are the rate limiter's)."""
        # Built per call: a tenacity controller keeps its state per thread, not per call.
        retrying = AsyncRetrying(
            retry=retry_if_exception(_worth_resending),
            stop=stop_after_attempt(_SEND_ATTEMPTS),
            wait=wait_exponential(multiplier=0.5),
            before_sleep=_log_send_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await send()

    async def post_photo(self, chat_id: str, image: ReplyImage, caption: str = "") -> None:
        """Post a photo to a chat on the bot's own initiative (digests), not as a reply.
        `caption` must fit Telegram's 1,024 characters (`fits_caption`)."""
        bot = self.application.bot
        await self._call(
            lambda: bot.send_photo(
                int(chat_id), photo=image.png, caption=caption or None, filename=image.filename
            )
        )

    async def post_text(self, chat_id: str, text: str) -> None:
        """Post text to a chat on the bot's own initiative, split at Telegram's 4,096."""
        bot = self.application.bot
        for chunk in split_text(text, MessageLimit.MAX_TEXT_LENGTH):
            await self._call(
                lambda chunk=chunk: bot.send_message(  # type: ignore[misc]
                    int(chat_id), chunk, link_preview_options=self._preview_options()
                )
            )

    async def _send(self, message: Message, reply: Reply) -> None:
        bot = self.application.bot
        chat_id = message.chat_id
        thread = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
        preview = self._preview_options()
        images = list(reply.images)
        if len(images) == 1 and utf16_len(reply.text) <= MessageLimit.CAPTION_LENGTH:
            image = images[0]
            await self._call(
                lambda: bot.send_photo(
                    chat_id,
                    photo=image.png,
                    caption=reply.text,
                    filename=image.filename,
                    reply_parameters=thread,
                )
            )
            return
        for chunk in split_text(reply.text, MessageLimit.MAX_TEXT_LENGTH):
            await self._call(
                lambda chunk=chunk: bot.send_message(  # type: ignore[misc]
                    chat_id, chunk, reply_parameters=thread, link_preview_options=preview
                )
            )
        for group in _media_groups(images):
            if len(group) == 1:
                only = group[0]
                await self._call(
                    lambda only=only: bot.send_photo(  # type: ignore[misc]
                        chat_id,
                        photo=only.png,
                        caption=only.alt,
                        filename=only.filename,
                        reply_parameters=thread,
                    )
                )
            else:
                media = [InputMediaPhoto(i.png, caption=i.alt, filename=i.filename) for i in group]
                await self._call(
                    lambda media=media: bot.send_media_group(  # type: ignore[misc]
                        chat_id, media, reply_parameters=thread
                    )
                )


def parse_update(data: object, bot: Bot) -> Update | None:
    """The update in a webhook body's JSON, or None when it is none (a list, a field of the
    wrong type: PTB's de_json fails on those with TypeError, KeyError, ValueError or, given
    no object where one belongs, AttributeError; a date past what the C library's time
    functions hold raises OverflowError or OSError)."""
    if not isinstance(data, dict):
        return None
    try:
        update = Update.de_json(data, bot)
    except (TypeError, KeyError, ValueError, AttributeError, OverflowError, OSError):
        return None
    # de_json takes the JSON's types on trust and leaves a missing object out as None; PTB's
    # own dispatch needs the chat, and chat and user ids to be integers (it hashes them).
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if (
        (message is not None and not isinstance(message.chat, Chat))
        or (chat is not None and type(chat.id) is not int)
        or (user is not None and type(user.id) is not int)
    ):
        return None
    return update


def fits_caption(text: str) -> bool:
    return utf16_len(text) <= MessageLimit.CAPTION_LENGTH


def _media_groups(images: list[ReplyImage]) -> list[list[ReplyImage]]:
    """Chunks of at most 10; Telegram needs 2-10 per album, so a lone photo goes alone."""
    return [images[i : i + MAX_MEDIA_GROUP] for i in range(0, len(images), MAX_MEDIA_GROUP)]


def split_text(text: str, limit: int) -> list[str]:
    """Split at line breaks into pieces of at most `limit` UTF-16 units (Telegram's count)."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while utf16_len(line) > limit:
            cut = limit
            while utf16_len(line[:cut]) > limit:
                cut -= 1
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if utf16_len(current + line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current or not pieces:
        pieces.append(current)
    return [p.rstrip("\n") for p in pieces]

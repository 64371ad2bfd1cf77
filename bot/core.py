"""The bot's front door: one `IncomingMessage` in, the replies to send out.

Records the group and sharer, routes commands through the features' included routers,
auto-shortens links and decodes QR photos; user mistakes become translated replies, internal
failures a logged apology. /help is made from the commands' declarations.
"""

from __future__ import annotations

import logging
from functools import partial

from bot.bindings import BindingReplies
from bot.commands import Commands, MenuEntry, Router, Words, command, helps
from bot.context import AdminList, Context
from bot.errors import UserError
from bot.i18n import DEFAULT_LANG, translate
from bot.links import LinkReplies
from bot.model import IncomingMessage, Reply
from bot.photos import PhotoReplies
from bot.storage import Groups

log = logging.getLogger(__name__)


class Core:
    """Includes the features' routers (it lists no command itself but `help`), and answers
    what is not a command: links are shortened, QR photos decoded."""

    def __init__(
        self,
        store: Groups,
        links: LinkReplies,
        photos: PhotoReplies,
        bindings: BindingReplies,
        *features: Commands,
        default_lang: str = DEFAULT_LANG,
    ) -> None:
        self._store = store
        self._links = links
        self._photos = photos
        self._bindings = bindings
        self._default_lang = default_lang
        self.router = Router.of(self)
        for feature in (links, *features, bindings):
            self.router.include_router(feature.router())

    def menu(self, platform: str, lang: str | None = None) -> list[MenuEntry]:
        """The commands `platform`'s command menu lists (members' and admins'), described in
        `lang` (both languages when None)."""
        return self.router.menu(platform, lang)

    async def handle(self, message: IncomingMessage) -> list[Reply]:
        try:
            group = await self._store.upsert_group(
                message.platform, message.chat_id, message.chat_title, self._default_lang
            )
            sharer_id = await self._store.upsert_user(
                message.platform, message.sender.user_id, message.sender.display_name
            )
        except Exception:
            log.exception(
                "could not record message platform=%s chat=%s", message.platform, message.chat_id
            )
            return [Reply(translate(self._default_lang, "internal_error"))]
        # Asked only by the handlers that need to know (a link message queries no admins).
        admins = AdminList(partial(self._is_admin, message, group.id, sharer_id))
        ctx = Context(message=message, group=group, sharer_id=sharer_id, admins=admins)
        try:
            return await self._bindings.notices_for_admin(ctx) + await self._dispatch(ctx)
        except UserError as e:
            return [Reply(ctx.t(e.message_key, **e.params))]
        except Exception:
            log.exception(
                "handler failed platform=%s chat=%s message=%s",
                message.platform,
                message.chat_id,
                message.message_id,
            )
            return [Reply(ctx.t("internal_error"))]

    async def _is_admin(self, message: IncomingMessage, group_id: int, sharer_id: int) -> bool:
        """The platform's answer when it must be asked, else an admin added in chat."""
        if message.ask_is_admin is not None and await message.ask_is_admin():
            return True
        return await self._store.is_group_admin(group_id, sharer_id)

    async def _dispatch(self, ctx: Context) -> list[Reply]:
        message = ctx.message
        routed = self.router.match(message.text, addressed=message.addressed)
        if routed is not None:
            if routed.parsed.addressed_to:
                # Adapters strip a mention of this bot, so what is left is for another bot.
                return []
            if routed.command is None:
                return [Reply(ctx.t("unknown_command", command=routed.parsed.name[:32]))]
            return await routed.command.handler(ctx, routed.parsed.args)
        replies: list[Reply] = []
        if message.images:
            replies += await self._photos.reply_to_images(ctx)
        if message.urls:
            urls = [found.url for found in message.urls]
            replies += await self._links.reply_to_urls(ctx, urls, explicit=False)
        return replies

    async def group_language(self, platform: str, chat_id: str, title: str) -> str:
        """The reply language of a group (recording the group), for adapter-owned texts."""
        group = await self._store.upsert_group(platform, chat_id, title, self._default_lang)
        return group.lang

    def help_text(self, lang: str, platform: str) -> str:
        """What the bot does and every command `platform` lists, in `lang`."""
        return "\n".join([translate(lang, "help_intro"), *self.router.help_lines(platform, lang)])

    @command("help", "start", "帮助", menu=Words("帮助", "help"))
    @helps("/help 显示本帮助", "/help show this help")
    async def _help(self, ctx: Context, args: str) -> list[Reply]:
        return [Reply(self.help_text(ctx.lang, ctx.message.platform))]

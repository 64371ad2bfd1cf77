"""The bot's front door: one `IncomingMessage` in, the replies to send out.

Records the group and sharer, routes commands, auto-shortens links and decodes QR photos;
user mistakes become translated replies, internal failures a logged apology.
"""

from __future__ import annotations

import logging

from bot.bindings import BindingReplies
from bot.commands import MenuEntry, ParsedCommand, Router, parse_command
from bot.context import Context
from bot.dashboard import DashboardReplies
from bot.digest import DigestReplies
from bot.errors import UserError
from bot.i18n import DEFAULT_LANG, translate
from bot.links import LinkReplies
from bot.live import LiveReplies
from bot.model import IncomingMessage, Reply
from bot.photos import PhotoReplies
from bot.settings import SettingsReplies
from bot.stats import StatsReplies
from bot.storage import Groups
from bot.web import WebReplies

log = logging.getLogger(__name__)


class Core:
    def __init__(
        self,
        store: Groups,
        links: LinkReplies,
        photos: PhotoReplies,
        stats: StatsReplies,
        bindings: BindingReplies,
        settings: SettingsReplies,
        digest: DigestReplies,
        dashboard: DashboardReplies,
        live: LiveReplies,
        *,
        web: WebReplies | None = None,
        default_lang: str = DEFAULT_LANG,
    ) -> None:
        self._store = store
        self._links = links
        self._photos = photos
        self._bindings = bindings
        self._default_lang = default_lang
        self.router = Router()
        add = self.router.add
        add(self._help, "help", "start", "帮助", menu="帮助 / help")
        add(links.short_command, "short", "s", "短链", menu="缩短链接 / shorten a link")
        add(links.qr_command, "qr", "二维码", menu="生成二维码 / make a QR code")
        add(stats.stats_command, "stats", "统计", menu="本群统计 / group stats")
        add(stats.top_command, "top", "热门", menu="热门链接 / most opened links")
        add(stats.mine_command, "mine", "我的", menu="我的链接 / my links")
        add(dashboard.dashboard_command, "dashboard", "看板", menu="群看板 / group dashboard")
        add(digest.digest_command, "digest", "周报", menu="周报设置 / weekly digest")
        add(
            settings.settings_command,
            "settings",
            "set",
            "设置",
            menu="群设置 / group settings",
        )
        add(
            settings.delete_command,
            "delete",
            "del",
            "删除",
            menu="删除短链接 / remove a short link",
            admins_only=True,
        )
        add(
            settings.block_command,
            "block",
            "屏蔽",
            menu="屏蔽域名 / block a domain",
            admins_only=True,
        )
        add(
            settings.unblock_command,
            "unblock",
            "解除屏蔽",
            menu="解除屏蔽 / unblock a domain",
            admins_only=True,
        )
        # Members list and look; the handler refuses their changes (admins_only is the menu's).
        add(live.live_command, "live", "活码", menu="活码 / live codes (permanent QR)")
        # WeCom only: Telegram reads admins from the chat and pushes without a robot.
        add(bindings.bind_command, "bind", "绑定")
        add(bindings.admin_command, "admin", "管理员")
        if web is not None:
            add(web.web_command, "web", "网页", menu="网页版 / the web page")

    def menu(self, platform: str) -> list[MenuEntry]:
        """The commands `platform`'s command menu lists (members' and admins')."""
        return self.router.menu(platform)

    async def handle(self, message: IncomingMessage) -> list[Reply]:
        try:
            group = await self._store.upsert_group(
                message.platform, message.chat_id, message.chat_title, self._default_lang
            )
            sharer_id = await self._store.upsert_user(
                message.platform, message.sender.user_id, message.sender.display_name
            )
            is_admin = message.is_admin or await self._store.is_group_admin(group.id, sharer_id)
        except Exception:
            log.exception(
                "could not record message platform=%s chat=%s", message.platform, message.chat_id
            )
            return [Reply(translate(self._default_lang, "internal_error"))]
        ctx = Context(message=message, group=group, sharer_id=sharer_id, is_admin=is_admin)
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

    async def _dispatch(self, ctx: Context) -> list[Reply]:
        message = ctx.message
        command = parse_command(message.text)
        if command is None and message.addressed:
            word, _, rest = message.text.strip().partition(" ")
            if self.router.route(word.lower()) is not None:
                command = ParsedCommand(word.lower(), rest.strip(), None)
        if command is not None:
            if command.addressed_to:
                # Adapters strip a mention of this bot, so what is left is for another bot.
                return []
            handler = self.router.route(command.name)
            if handler is None:
                return [Reply(ctx.t("unknown_command", command=command.name[:32]))]
            return await handler(ctx, command.args)
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

    def help_text(self, lang: str) -> str:
        return translate(lang, "help")

    async def _help(self, ctx: Context, args: str) -> list[Reply]:
        return [Reply(ctx.t("help"))]

"""A WeCom group's push channel and admins: `bind <group-robot URL or key>` and `admin add`
(admins only), the dead-robot notice to the next admin who speaks, and `GroupRobots`, through
which the adapters that push reach the bound key.

The key is a secret: stored, never echoed in full, never logged.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

from bot.clock import Clock
from bot.commands import Commands, command
from bot.context import Context
from bot.errors import UserError
from bot.model import Reply, WebhookBinding
from bot.storage import Bindings, GroupsAndBindings

log = logging.getLogger(__name__)

_KEY = re.compile(r"[A-Za-z0-9-]{16,64}")
_USER_ID = re.compile(r"[\w.@-]{1,64}")


def webhook_key_from(text: str) -> str | None:
    """The key from a group-robot webhook URL (…/webhook/send?key=K) or a bare key."""
    text = text.strip()
    if text.startswith(("http://", "https://")):
        key = (parse_qs(urlsplit(text).query).get("key") or [""])[0]
    else:
        key = text
    return key if _KEY.fullmatch(key) else None


def masked(key: str) -> str:
    return "…" + key[-4:]


def working_key(binding: WebhookBinding | None) -> str | None:
    """The robot key that still pushes to the group: None when unbound or known to be dead."""
    if binding is None or binding.invalid_since is not None:
        return None
    return binding.webhook_key


class GroupRobots:
    """Each group's bound robot, for the adapters that push (digests, 活码 reminders): they
    reach the bindings only through here, never the store."""

    def __init__(self, store: Bindings, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def webhook_key(self, group_id: int) -> str | None:
        """The key to push to the group with; None when unbound or known to be dead."""
        return working_key(await self._store.webhook_for(group_id))

    async def mark_webhook_invalid(self, group_id: int) -> None:
        """The platform refused the key: stop pushing, and tell the next admin who speaks
        (`BindingReplies.notices_for_admin`)."""
        await self._store.mark_webhook_invalid(group_id, self._clock())


class BindingReplies(Commands):
    def __init__(self, store: GroupsAndBindings, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def notices_for_admin(self, ctx: Context) -> list[Reply]:
        """Tell the next admin who speaks that the group robot died, then forget it."""
        if ctx.group.platform != "wecom":
            return []
        # The dead robot is rare: look it up before asking whether the sender is an admin.
        binding = await self._store.webhook_for(ctx.group.id)
        if binding is None or binding.invalid_since is None or not await ctx.is_admin():
            return []
        await self._store.unbind_webhook(ctx.group.id)
        log.info("invalid webhook unbound platform=wecom chat=%s", ctx.group.chat_id)
        return [Reply(ctx.t("bind_invalid", masked_key=masked(binding.webhook_key)))]

    # WeCom only: Telegram reads admins from the chat and pushes without a robot.
    @command("bind", "绑定", platforms=frozenset({"wecom"}))
    async def bind_command(self, ctx: Context, args: str) -> list[Reply]:
        if ctx.group.platform != "wecom":
            raise UserError("bind_wecom_only", "bind_wecom_only")
        if not await ctx.is_admin():
            raise UserError("admin_only", "admin_only")
        key = webhook_key_from(args)
        if key is None:
            raise UserError("bind_usage", "bind_usage")
        await self._store.bind_webhook(ctx.group.id, key, ctx.sharer_id, self._clock())
        log.info("webhook bound platform=%s chat=%s", ctx.group.platform, ctx.group.chat_id)
        return [Reply(ctx.t("bind_done", masked_key=masked(key)))]

    @command("admin", "管理员", platforms=frozenset({"wecom"}))
    async def admin_command(self, ctx: Context, args: str) -> list[Reply]:
        """`admin add <user id>`: admins name more admins where the platform keeps no list."""
        if not await ctx.is_admin():
            raise UserError("admin_only", "admin_only")
        action, _, user_id = args.strip().partition(" ")
        user_id = user_id.strip().lstrip("@")
        if action.lower() not in ("add", "添加") or not _USER_ID.fullmatch(user_id):
            raise UserError("admin_usage", "admin_usage")
        await self._store.add_group_admin(
            ctx.group.id, ctx.group.platform, user_id, ctx.sharer_id, self._clock()
        )
        log.info("group admin added platform=%s chat=%s", ctx.group.platform, ctx.group.chat_id)
        return [Reply(ctx.t("admin_added", user=user_id))]

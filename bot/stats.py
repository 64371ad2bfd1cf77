"""Group statistics in chat: links shared and clicks, humans apart from previews and bots.

Reads counts from the store; the redirector is what records them.
"""

from __future__ import annotations

from bot.context import Context
from bot.model import Reply
from bot.storage import Store


class StatsReplies:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def stats_command(self, ctx: Context, args: str) -> list[Reply]:
        stats = await self._store.group_stats(ctx.group.id)
        return [
            Reply(
                ctx.t(
                    "stats",
                    links=stats.links,
                    human=stats.human_clicks,
                    previews=stats.preview_clicks,
                    bots=stats.bot_clicks,
                )
            )
        ]

"""What a handler knows about the message it answers: the group, the sharer, the language,
and (asked only when a handler needs it) whether the sender is one of the group's admins.

Built by the core once per message, after the group and member are recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.i18n import translate
from bot.model import Group, IncomingMessage


class AdminList:
    """Whether the sender is an admin when the message alone does not say: the platform's
    answer (`ask_is_admin`) or an admin added in chat, looked up at most once per message and
    only when a handler asks (a plain link message queries neither)."""

    def __init__(self, lookup: Callable[[], Awaitable[bool]] | None = None) -> None:
        self._lookup = lookup
        self._answer: bool | None = None

    async def has_sender(self) -> bool:
        if self._answer is None:
            self._answer = self._lookup is not None and await self._lookup()
        return self._answer


@dataclass(frozen=True, slots=True)
class Context:
    message: IncomingMessage
    group: Group
    sharer_id: int
    admins: AdminList = field(default_factory=AdminList)

    @property
    def lang(self) -> str:
        return self.group.lang

    async def is_admin(self) -> bool:
        """The platform's word (message.is_admin, or its answer when asked) or an admin added
        in chat."""
        return self.message.is_admin or await self.admins.has_sender()

    def t(self, key: str, **params: Any) -> str:
        return translate(self.group.lang, key, **params)

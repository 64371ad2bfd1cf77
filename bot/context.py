"""What a handler knows about the message it answers: the group, the sharer, the language.

Built by the core once per message, after the group and member are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.i18n import translate
from bot.model import Group, IncomingMessage


@dataclass(frozen=True, slots=True)
class Context:
    message: IncomingMessage
    group: Group
    sharer_id: int
    is_admin: bool = False  # the platform's word, or an admin added in chat

    @property
    def lang(self) -> str:
        return self.group.lang

    def t(self, key: str, **params: Any) -> str:
        return translate(self.group.lang, key, **params)

"""Errors a user can cause, carried as i18n keys rather than text.

Handlers raise `UserError`; the core renders it in the group's language.
"""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A mistake the user can fix: rendered to chat through i18n, never as str(e)."""

    def __init__(self, code: str, message_key: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.message_key = message_key
        self.params = params

    def __repr__(self) -> str:
        return f"UserError({self.code!r}, {self.message_key!r})"

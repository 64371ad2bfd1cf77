"""Command routing: parse `/name@bot args` and find the feature handler for `name`.

Routing only; what a command does lives in its feature module.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.context import Context
from bot.model import Reply

Handler = Callable[[Context, str], Awaitable[list[Reply]]]

_COMMAND = re.compile(r"^[/／](?P<name>[^\s@/]+)(?:@(?P<bot>\w+))?(?:\s+(?P<args>.*))?$", re.S)


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    name: str
    args: str
    addressed_to: str | None


def parse_command(text: str) -> ParsedCommand | None:
    """`/short@suo_bot https://x` -> ParsedCommand("short", "https://x", "suo_bot")."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    return ParsedCommand(
        name=match["name"].lower(),
        args=(match["args"] or "").strip(),
        addressed_to=match["bot"],
    )


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A command as a platform's command menu lists it (Telegram's setMyCommands)."""

    name: str
    description: str
    admins_only: bool


class Router:
    def __init__(self) -> None:
        self._routes: dict[str, Handler] = {}
        self._menu: list[tuple[MenuEntry, frozenset[str] | None]] = []

    def add(
        self,
        handler: Handler,
        *names: str,
        menu: str = "",
        admins_only: bool = False,
        platforms: frozenset[str] | None = None,
    ) -> None:
        """Route `names` to `handler`. `menu` (a short zh / en description) lists the first
        name in command menus, for admins only when `admins_only`, on `platforms` (all when
        None)."""
        for name in names:
            if name in self._routes:
                raise ValueError(f"command {name!r} registered twice")
            self._routes[name] = handler
        if menu:
            self._menu.append((MenuEntry(names[0], menu, admins_only), platforms))

    def route(self, name: str) -> Handler | None:
        return self._routes.get(name)

    def menu(self, platform: str) -> list[MenuEntry]:
        """The commands a menu on `platform` lists, in the order they were added."""
        return [e for e, where in self._menu if where is None or platform in where]

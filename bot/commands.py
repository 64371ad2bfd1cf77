"""Command routing: what a feature declares about its commands (`Command`), the `Router` that
features fill and the core includes, and the help text and command menus made from them.

Routing only; what a command does lives in its feature module, next to its declaration.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from bot.context import Context
from bot.i18n import DEFAULT_LANG
from bot.model import Reply

Handler = Callable[[Context, str], Awaitable[list[Reply]]]
HandlerMethod = TypeVar("HandlerMethod", bound=Callable[..., Awaitable[list[Reply]]])

# A slash command (`/name@bot args`) or, for messages addressed to the bot, a bare first word.
_COMMAND = re.compile(
    r"^(?:[/／](?P<name>[^\s@/]+)(?:@(?P<bot>\w+))?|(?P<word>\S+))(?:\s+(?P<args>.*))?$", re.S
)


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    name: str
    args: str
    addressed_to: str | None
    slashed: bool = True  # False: a bare first word of a message addressed to the bot


def parse_command(text: str, *, bare: bool = False) -> ParsedCommand | None:
    """`/short@suo_bot https://x` -> ParsedCommand("short", "https://x", "suo_bot").

    With `bare` (a message addressed to the bot, as WeCom's @mention), `short https://x` parses
    too; whether its first word names a command is the router's to say.
    """
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    slashed = match["name"] is not None
    name = match["name"] if slashed else match["word"]
    if not (slashed or bare):
        return None
    return ParsedCommand(
        name=name.lower(),
        args=(match["args"] or "").strip(),
        addressed_to=match["bot"],
        slashed=slashed,
    )


@dataclass(frozen=True, slots=True)
class Words:
    """One text in each reply language (a help line, a menu entry)."""

    zh_cn: str
    en: str

    def in_lang(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh_cn

    @property
    def both(self) -> str:
        """Both languages, for a place that cannot know the reader's (`帮助 / help`)."""
        return f"{self.zh_cn} / {self.en}"


@dataclass(frozen=True, slots=True)
class Command:
    """A command as its feature declares it, once: everything routing, /help and menus need.

    `names[0]` is what help and menus show; the rest (Chinese aliases too) route the same.
    `help` lines show in /help, usage first. `menu` lists the command in command menus, for
    admins only when `admins_only` (the handler still refuses what members may not change).
    `platforms` limits where help and menus list it (None: everywhere); routing is everywhere,
    so a handler can say why a command does not apply on this platform.
    """

    names: tuple[str, ...]
    handler: Handler
    help: tuple[Words, ...] = ()
    menu: Words | None = None
    admins_only: bool = False
    platforms: frozenset[str] | None = None

    def listed_on(self, platform: str) -> bool:
        return self.platforms is None or platform in self.platforms


@dataclass(frozen=True, slots=True)
class _Declared:
    """What @command writes on a handler method; `Router.of` makes it a `Command`."""

    names: tuple[str, ...]
    menu: Words | None
    admins_only: bool
    platforms: frozenset[str] | None


_DECLARED = "__suo_command__"
_HELP = "__suo_help__"


def command(
    *names: str,
    menu: Words | None = None,
    admins_only: bool = False,
    platforms: frozenset[str] | None = None,
) -> Callable[[HandlerMethod], HandlerMethod]:
    """Declare the handler method below as the command `names` (see `Command`)."""
    declared = _Declared(names, menu, admins_only, platforms)

    def declare(method: HandlerMethod) -> HandlerMethod:
        setattr(method, _DECLARED, declared)
        return method

    return declare


def helps(zh_cn: str, en: str) -> Callable[[HandlerMethod], HandlerMethod]:
    """A /help line of the command below (usage first), in zh-CN and en; several show in the
    order they are written."""

    def add(method: HandlerMethod) -> HandlerMethod:
        # Decorators apply bottom-up: each line goes before the ones written under it.
        setattr(method, _HELP, (Words(zh_cn, en), *getattr(method, _HELP, ())))
        return method

    return add


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A command as a platform's command menu lists it (Telegram's setMyCommands)."""

    name: str
    description: str
    admins_only: bool


@dataclass(frozen=True, slots=True)
class Routed:
    """A message's command, parsed once: `command` is None for a name no feature declares."""

    parsed: ParsedCommand
    command: Command | None


class Router:
    """A feature's commands, or (after `include_router`) the bot's: in aiogram's spirit."""

    def __init__(self, *commands: Command) -> None:
        self._commands: list[Command] = []
        self._by_name: dict[str, Command] = {}
        for declared in commands:
            self.add(declared)

    @classmethod
    def of(cls, feature: object, *, listed: bool = True) -> Router:
        """The commands `feature`'s methods declare with @command, in the order written.
        Unless `listed`, they are routed but left out of help and menus."""
        router = cls()
        for name, member in vars(type(feature)).items():
            declared = getattr(member, _DECLARED, None)
            if not isinstance(declared, _Declared):
                continue
            handler: Handler = getattr(feature, name)
            router.add(
                Command(
                    declared.names,
                    handler,
                    help=getattr(member, _HELP, ()),
                    menu=declared.menu,
                    admins_only=declared.admins_only,
                    platforms=declared.platforms if listed else frozenset(),
                )
            )
        return router

    def add(self, entry: Command) -> None:
        for name in entry.names:
            if name in self._by_name:
                raise ValueError(f"command {name!r} registered twice")
        self._by_name.update(dict.fromkeys(entry.names, entry))
        self._commands.append(entry)

    def include_router(self, router: Router) -> None:
        """Add a feature's commands after the ones already here (help and menus keep order)."""
        for included in router:
            self.add(included)

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)

    def route(self, name: str) -> Handler | None:
        command = self._by_name.get(name)
        return None if command is None else command.handler

    def match(self, text: str, *, addressed: bool = False) -> Routed | None:
        """The command `text` asks for, or None when it is no command. Addressed messages may
        name a command without the slash; a bare word that names none is plain text."""
        parsed = parse_command(text, bare=addressed)
        if parsed is None:
            return None
        command = self._by_name.get(parsed.name)
        if command is None and not parsed.slashed:
            return None
        return Routed(parsed, command)

    def menu(self, platform: str, lang: str | None = None) -> list[MenuEntry]:
        """The commands a menu on `platform` lists, in the order they were added, described
        in `lang` (in both languages when None: the reader's is unknown)."""
        return [
            MenuEntry(
                c.names[0],
                c.menu.both if lang is None else c.menu.in_lang(lang),
                c.admins_only,
            )
            for c in self._commands
            if c.menu is not None and c.listed_on(platform)
        ]

    def help_lines(self, platform: str, lang: str = DEFAULT_LANG) -> list[str]:
        """Every declared help line for `platform`, in `lang`, in the order commands were added."""
        return [
            line.in_lang(lang) for c in self._commands if c.listed_on(platform) for line in c.help
        ]


class Commands:
    """A feature whose handler methods declare its commands (@command): the core includes
    its `router()`."""

    def router(self) -> Router:
        return Router.of(self)

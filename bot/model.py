"""Value objects that cross layers: messages in, replies out, links and clicks.

Adapters build `IncomingMessage` and render `Reply`; storage returns `Link`;
the redirector emits `Click`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class ChatKind(StrEnum):
    GROUP = "group"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class Sender:
    user_id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class FoundUrl:
    """A URL found in a message, with its position in the text (Python str indices)."""

    url: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ImageSource:
    """An image attached to a message; bytes are loaded only when a feature needs them."""

    name: str
    size: int | None
    load: Callable[[], Awaitable[bytes]] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    platform: str
    chat_id: str
    chat_title: str
    chat_kind: ChatKind
    sender: Sender
    text: str
    urls: tuple[FoundUrl, ...] = ()
    images: tuple[ImageSource, ...] = ()
    is_admin: bool = False
    message_id: str = ""
    # True when the platform says the message was addressed to the bot (WeCom's @mention):
    # then "bind <url>" works like "/bind <url>".
    addressed: bool = False


@dataclass(frozen=True, slots=True)
class ReplyImage:
    png: bytes = field(repr=False)
    filename: str
    alt: str


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    images: tuple[ReplyImage, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    platform: str
    chat_id: str
    title: str
    lang: str


@dataclass(frozen=True, slots=True)
class Link:
    code: str
    url: str
    group_id: int
    sharer_id: int | None
    created_at: datetime
    disabled: bool = False


class ClickClass(StrEnum):
    HUMAN = "human"
    PREVIEW = "preview"
    BOT = "bot"


class Click(NamedTuple):
    """One request for a short link, in the clicks table's column order.

    A tuple, not a dataclass: the redirector builds thousands a second and the store binds
    it as a row as is. `ts_ms` is epoch milliseconds (UTC); `id` makes a replayed batch
    idempotent.
    """

    id: str
    code: str
    ts_ms: int
    klass: ClickClass
    platform: str
    referrer_host: str
    visitor: str


@dataclass(frozen=True, slots=True)
class GroupStats:
    group: Group
    links: int
    human_clicks: int
    preview_clicks: int
    bot_clicks: int


@dataclass(frozen=True, slots=True)
class WebhookBinding:
    """A group's push channel (WeCom group robot); the key is a secret, shown only masked."""

    group_id: int
    webhook_key: str = field(repr=False)
    invalid_since: datetime | None = None

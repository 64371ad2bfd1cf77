"""Value objects that cross layers: messages in, replies out, groups and their rules, links
and clicks, period stats and 活码.

Adapters build `IncomingMessage` and render `Reply`; storage returns `Group`, `Link` and the
stats; the redirector emits `Click`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple


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
    # Where the platform must be asked (Telegram's getChatMember), the question itself: only a
    # command that needs the answer asks it, so a link message costs no API call.
    ask_is_admin: Callable[[], Awaitable[bool]] | None = field(
        default=None, compare=False, repr=False
    )
    # True when the platform says the message was addressed to the bot (WeCom's @mention):
    # then "bind <url>" works like "/bind <url>".
    addressed: bool = False


@dataclass(frozen=True, slots=True)
class ReplyImage:
    png: bytes = field(repr=False)
    filename: str
    alt: str
    kind: str = "qr"  # or "chart": how a text-only surface (the console) names the file


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    images: tuple[ReplyImage, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """A group's rules, set by its admins in chat; links without their own rules follow them.

    `platforms` None: every platform may open the group's links. `anti_red`: platforms whose
    in-app browsers get the open-in-your-browser guide. `expiry_seconds`: new links expire
    this long after they are made. `blocked`: domains never shortened here.
    """

    auto_shorten: bool = True
    platforms: frozenset[str] | None = None
    anti_red: frozenset[str] = frozenset()
    expiry_seconds: int | None = None
    blocked: tuple[str, ...] = ()
    # The weekly digest: on by default, Monday (0) 09:00 in the group's timezone.
    digest_enabled: bool = True
    digest_weekday: int = 0
    digest_time: str = "09:00"

    def as_dict(self) -> dict[str, object]:
        return {
            "auto_shorten": self.auto_shorten,
            "platforms": None if self.platforms is None else sorted(self.platforms),
            "anti_red": sorted(self.anti_red),
            "expiry_seconds": self.expiry_seconds,
            "blocked": list(self.blocked),
            "digest_enabled": self.digest_enabled,
            "digest_weekday": self.digest_weekday,
            "digest_time": self.digest_time,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroupSettings:
        platforms = d.get("platforms")
        expiry = d.get("expiry_seconds")
        return cls(
            auto_shorten=bool(d.get("auto_shorten", True)),
            platforms=None if platforms is None else frozenset(platforms),
            anti_red=frozenset(d.get("anti_red", ())),
            expiry_seconds=None if expiry is None else int(expiry),
            blocked=tuple(d.get("blocked", ())),
            digest_enabled=bool(d.get("digest_enabled", True)),
            digest_weekday=int(d.get("digest_weekday", 0)) % 7,
            digest_time=str(d.get("digest_time", "09:00")),
        )


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    platform: str
    chat_id: str
    title: str
    lang: str
    settings: GroupSettings = GroupSettings()
    tz: str = "Asia/Shanghai"  # IANA name: digests are scheduled and days counted in it


@dataclass(frozen=True, slots=True)
class LinkRules:
    """One link's own rules; None where the link follows its group (`GroupSettings`)."""

    platforms: frozenset[str] | None = None
    anti_red: frozenset[str] | None = None
    expires_at: datetime | None = None
    max_clicks: int | None = None  # human opens; previews and bots never use it up


@dataclass(frozen=True, slots=True)
class Link:
    code: str
    url: str
    group_id: int
    sharer_id: int | None
    created_at: datetime
    disabled: bool = False
    rules: LinkRules = LinkRules()
    human_opens: int = 0  # kept for links with max_clicks only
    kind: str = "short"  # or "live": a 活码, whose target comes from its pool (bot/live.py)


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """What the `/{code}+` page shows."""

    link: Link
    group: Group  # its title is shown, its settings decide whether the link still opens
    sharer_name: str | None
    human_clicks: int


class ClickClass(StrEnum):
    HUMAN = "human"
    PREVIEW = "preview"
    BOT = "bot"


class Click(NamedTuple):
    """One request for a short link, in the clicks table's column order.

    A tuple, not a dataclass: the redirector builds thousands a second and the store binds
    it as a row as is. `ts_ms` is epoch milliseconds (UTC); `id` (the recorder's writer
    number << 32 | its sequence) makes a replayed batch idempotent.
    """

    id: int
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


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC, whole hours (the rollups' grain)."""

    start: datetime
    end: datetime

    @classmethod
    def last_days(cls, days: int, now: datetime) -> Period:
        end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return cls(end - timedelta(days=days), end)

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start) / timedelta(days=1)))

    def before(self) -> Period:
        """The period of the same length just before this one (week-over-week)."""
        return Period(self.start - (self.end - self.start), self.start)

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class LinkCount:
    code: str
    url: str
    sharer: str | None
    human: int
    previews: int


@dataclass(frozen=True, slots=True)
class SharerCount:
    name: str
    links: int  # links of theirs that were read in the period
    human: int  # human clicks on their links in the period


@dataclass(frozen=True, slots=True)
class PeriodStats:
    group: Group
    period: Period
    links_shared: int  # links created in the period
    human: int
    previews: int
    bots: int
    unique_readers: int  # distinct readers per UTC day, summed (the salt changes daily)
    per_day: tuple[int, ...]  # human clicks per 24 h from the period's start, every day
    top_links: tuple[LinkCount, ...]
    top_sharers: tuple[SharerCount, ...]
    platforms: tuple[tuple[str, int], ...]  # human clicks by platform, biggest first


@dataclass(frozen=True, slots=True)
class LiveCode:
    """A 活码: a permanent short link (a `Link` of kind "live") named in its group, whose
    target the group's admins swap; the targets are its pool (`LiveTarget`)."""

    code: str
    group_id: int
    name: str
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class LiveTarget:
    """One destination in a live code's pool. Scans go to the first usable target (lowest
    `position`): not retired, under its `cap` of human opens, not past `expires_at`."""

    id: int
    code: str
    url: str
    cap: int | None
    opens: int
    expires_at: datetime | None
    position: int
    added_at: datetime
    retired_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Mirrors the store's claim (`SqliteStore.claim_live_target`)."""
        return (
            self.retired_at is None
            and (self.cap is None or self.opens < self.cap)
            and (self.expires_at is None or now < self.expires_at)
        )

"""The storage ports: one narrow protocol per thing a consumer needs from the database.

Features, the scheduler and the redirector each take the narrowest port (or composite of
ports) they use; an engine (`open_store(url)` picks it) implements them all as a `Store`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from bot.config import without_password
from bot.model import (
    Click,
    Group,
    GroupSettings,
    GroupStats,
    Link,
    LinkCount,
    LinkInfo,
    LinkRules,
    LiveCode,
    LiveTarget,
    Period,
    PeriodStats,
    WebhookBinding,
)

WatchStop = Callable[[], Awaitable[None]]


class StoreUnavailable(Exception):
    """The database could not be reached or failed mid-operation."""


class CodeTaken(Exception):
    """The random code collided with an existing one; the caller draws another."""


class LiveNameTaken(Exception):
    """The group already has an active live code of that name."""


class Groups(Protocol):
    """Groups, their members and settings, and the admins a platform does not list."""

    async def upsert_group(
        self, platform: str, chat_id: str, title: str, lang: str = "zh-CN"
    ) -> Group: ...

    async def upsert_user(self, platform: str, user_id: str, display_name: str) -> int: ...

    async def get_group(self, group_id: int) -> Group | None: ...

    async def find_groups(self, name: str | None) -> list[Group]: ...

    async def set_group_settings(self, group_id: int, settings: GroupSettings) -> None: ...

    async def set_group_lang(self, group_id: int, lang: str) -> None: ...

    async def set_group_tz(self, group_id: int, tz: str) -> None: ...

    async def add_group_admin(
        self, group_id: int, platform: str, user_id: str, added_by: int | None, at: datetime
    ) -> None:
        """Make a member an admin of one group (platforms without an admin list: WeCom)."""
        ...

    async def is_group_admin(self, group_id: int, user_row_id: int) -> bool: ...


class Links(Protocol):
    """Short links: shortening, their rules, and what a redirect reads and counts."""

    async def create_link(
        self,
        code: str,
        url: str,
        group_id: int,
        sharer_id: int | None,
        created_at: datetime,
        rules: LinkRules = ...,
    ) -> tuple[Link, bool]:
        """Insert a link, or return the group's existing link for `url` (its rules unchanged),
        deciding in one transaction: two shortenings of one URL at once get one code.

        Returns (link, created). Raises `CodeTaken` when `code` belongs to another link.
        """
        ...

    async def get_link(self, code: str) -> Link | None: ...

    async def link_for_url(self, group_id: int, url: str) -> Link | None: ...

    async def set_link_rules(self, code: str, rules: LinkRules) -> None: ...

    async def disable_link(self, code: str, group_id: int) -> bool:
        """Remove a link of `group_id` from service (410 from then on); False if there was
        no such active link in that group."""
        ...

    async def claim_human_open(self, code: str) -> bool:
        """Count one human open against the link's max_clicks, atomically across processes;
        False (nothing counted) when none are left."""
        ...

    async def reserve_human_opens(self, code: str, wanted: int) -> int:
        """Count up to `wanted` human opens against max_clicks in one atomic step, for the
        caller to spend in memory: how many it got (0: none left, or no such link)."""
        ...

    async def return_human_opens(self, code: str, unused: int) -> None:
        """Give back reserved opens that were not spent (at shutdown, or a changed link)."""
        ...

    async def link_info(self, code: str) -> LinkInfo | None: ...


class LinkChanges(Protocol):
    """Which links changed (created, rules, deleted, 活码 re-pointed), for every process's
    link cache to forget them."""

    async def link_changes_since(self, seq: int) -> tuple[int, list[str]]:
        """The codes changed after change number `seq`, and the number to ask after next
        (a negative `seq`: the latest number, and no codes)."""
        ...

    async def watch_link_changes(self, on_change: Callable[[str], None]) -> WatchStop:
        """Call `on_change(code)` as changes commit, where the engine can push them
        (PostgreSQL LISTEN); polling stays the fallback. Returns the call that stops it."""
        ...


@dataclass(frozen=True, slots=True)
class JournalMark:
    """How far a click journal (a recorder's local file, named by its file name) is stored:
    committed with the batch read up to it, so a replay resumes there."""

    journal: str
    offset: int  # bytes of the file that are in the database


class ClickSink(Protocol):
    """Where the click recorder writes its batches."""

    async def add_clicks(self, clicks: Sequence[Click], mark: JournalMark | None = None) -> int:
        """Store a batch in one transaction, with `mark` when given; clicks already stored
        (same id) are skipped, and so are their rollups."""
        ...

    async def journal_offset(self, journal: str) -> int:
        """How much of a journal the marks say is stored (0 for one never marked)."""
        ...

    async def forget_journal(self, journal: str) -> None:
        """Drop a journal's mark, before its file is removed."""
        ...

    async def new_click_writer(self, at: datetime) -> int:
        """A number no other click recorder has had (click ids are writer << 32 | sequence)."""
        ...

    async def daily_salt(self, day: date) -> bytes:
        """The visitor-hash salt for `day`, created on first use; older salts are deleted."""
        ...


class StatsReader(Protocol):
    """A group's numbers, read from the click rollups."""

    async def group_stats(self, group_id: int) -> GroupStats: ...

    async def period_stats(self, group_id: int, period: Period, *, top: int) -> PeriodStats:
        """The group's numbers for `period`, read from the rollups."""
        ...

    async def sharer_links(
        self, group_id: int, sharer_id: int, period: Period, *, top: int
    ) -> list[LinkCount]:
        """A member's links in a group, most read in `period` first."""
        ...


class DigestRuns(Protocol):
    """Exactly-once digests: who sends a (group, period) digest and how far it got."""

    async def claim_digest(
        self,
        group_id: int,
        period_start: datetime,
        owner: str,
        now: datetime,
        lease: timedelta,
        *,
        max_runs: int | None = None,
    ) -> bool:
        """Take the (group, period) digest for sending: True for exactly one caller until it
        is sent; a failed run, or one whose sender vanished past `lease`, can be taken again,
        by any process, until `max_runs` runs have been claimed in all."""
        ...

    async def finish_digest(
        self, group_id: int, period_start: datetime, owner: str, now: datetime, error: str | None
    ) -> None:
        """Mark a claimed run sent, or failed (`error`) so a later attempt may take it."""
        ...

    async def digest_parts_sent(self, group_id: int, period_start: datetime) -> int:
        """How many of the digest's messages earlier runs delivered (0 when none)."""
        ...

    async def digest_part_sent(
        self, group_id: int, period_start: datetime, owner: str, parts_sent: int
    ) -> None:
        """Record delivery progress of the run `owner` holds."""
        ...

    async def digest_status(self, group_id: int, period_start: datetime) -> str | None:
        """ "sending", "sent", "failed", or None when never claimed."""
        ...


class Bindings(Protocol):
    """The group robot (群机器人) each WeCom group is bound to for pushes."""

    async def bind_webhook(
        self, group_id: int, webhook_key: str, bound_by: int | None, at: datetime
    ) -> None:
        """Remember the group robot key that pushes to this group."""
        ...

    async def webhook_for(self, group_id: int) -> WebhookBinding | None: ...

    async def mark_webhook_invalid(self, group_id: int, at: datetime) -> None: ...

    async def unbind_webhook(self, group_id: int) -> None: ...


class LiveCodes(Protocol):
    """活码: a group's named live codes and their pools of targets, as admins keep them."""

    async def create_live_code(
        self, code: str, group_id: int, name: str, created_by: int | None, at: datetime
    ) -> LiveCode:
        """Raises `LiveNameTaken` (the group has an active one of that name) or `CodeTaken`."""
        ...

    async def live_code(self, group_id: int, name: str) -> LiveCode | None:
        """The group's active live code of that name (ASCII letters match in any case)."""
        ...

    async def live_codes(self, group_id: int | None) -> list[LiveCode]: ...

    async def live_targets(self, code: str) -> list[LiveTarget]: ...

    async def add_live_target(
        self,
        code: str,
        url: str,
        cap: int | None,
        expires_at: datetime | None,
        added_by: int | None,
        at: datetime,
        *,
        current: bool,
    ) -> LiveTarget: ...

    async def retire_live_target(self, code: str, target_id: int, at: datetime) -> bool:
        """Take a target out of the pool (kept as history); False if it was not in it."""
        ...


class LiveScans(Protocol):
    """What the redirector asks of a 活码 on each scan."""

    async def claim_live_target(self, code: str, at: datetime) -> LiveTarget | None:
        """Count a human open against the current target, atomically across processes."""
        ...

    async def current_live_target(self, code: str, at: datetime) -> LiveTarget | None: ...


class LiveReminders(Protocol):
    """Exactly-once reminders to admins about a 活码's pool."""

    async def claim_live_reminder(
        self, code: str, kind: str, target_id: int, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        """True for exactly one caller per (code, kind, target), across processes."""
        ...

    async def finish_live_reminder(
        self, code: str, kind: str, target_id: int, owner: str, now: datetime, *, sent: bool
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class SharedLink:
    """A link as an export lists it: with its sharer's display name."""

    link: Link
    sharer_name: str | None


@dataclass(frozen=True, slots=True)
class LinkDay:
    """One link's clicks on one UTC day (the day the visitor-hash salt is kept for)."""

    code: str
    day: date
    human: int
    previews: int
    bots: int
    unique_readers: int


class Operations(Protocol):
    """What an operator's one-shot commands read: the schema's version, and a group's data to
    take elsewhere (`suo migrate`, `suo export`)."""

    async def schema_versions(self) -> tuple[int, int]:
        """(the schema version this store found when it opened, the version it has now)."""
        ...

    async def group_links(self, group_id: int) -> list[SharedLink]:
        """Every link of the group, live codes and removed ones too, oldest first."""
        ...

    async def clicks_per_link_day(self, group_id: int) -> list[LinkDay]:
        """The group's clicks per link and UTC day that had any, by code then day."""
        ...


# Consumers that need more than one port take one of these composites: Python has no
# intersection type, and naming the pair keeps each consumer's needs visible at its signature.
# They add no methods of their own (tests/test_storage.py keeps that true).


class GroupsAndBindings(Groups, Bindings, Protocol):
    """Binding and admin commands, and digest settings (which hint at an unbound robot)."""


class GroupsAndLinks(Groups, Links, Protocol):
    """Settings commands: a group's rules, and removing its links."""


class StatsAndBindings(StatsReader, Bindings, Protocol):
    """Stats commands (which hint admins at an unbound robot)."""


class DigestSending(Groups, DigestRuns, Protocol):
    """The digest service: every group, and each one's run for the period."""


class LiveAdmin(LiveCodes, Links, Protocol):
    """活码 commands: the pools, and retiring a live code's link."""


class LiveWatching(Groups, LiveCodes, LiveReminders, Protocol):
    """活码 reminders: each code's pool, its group, and who sends which reminder."""


class Redirects(Groups, Links, LinkChanges, LiveScans, Protocol):
    """The redirector: links and their groups, counted opens, 活码 scans, and what changed."""


class Store(
    Groups,
    Links,
    LinkChanges,
    ClickSink,
    StatsReader,
    DigestRuns,
    Bindings,
    LiveCodes,
    LiveScans,
    LiveReminders,
    Operations,
    Protocol,
):
    """An engine: every port, and the connection it holds."""

    async def close(self) -> None: ...


async def open_store(url: str, *, pool_min: int = 1, pool_max: int = 10) -> Store:
    """The engine `url` names: `sqlite:///path`, or `postgresql://` (`postgres://`) with a
    pool of `pool_min` to `pool_max` connections. Raises `StoreUnavailable` in one line."""
    if url.startswith("sqlite:///"):
        return await _open_sqlite(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        return await _open_postgres(url, pool_min, pool_max)
    raise ValueError(f"unsupported storage url scheme: {url.split(':', 1)[0]}")


async def _open_sqlite(path: str) -> Store:
    from bot.storage.sqlite import SqliteStore

    try:
        return await SqliteStore.open(path)
    except (sqlite3.Error, OSError) as e:
        # One line for the operator (the CLI exits 3 on it), not a traceback.
        raise StoreUnavailable(f"cannot open the SQLite database {path}: {_reason(e)}") from e


async def _open_postgres(url: str, pool_min: int, pool_max: int) -> Store:
    # Imported here: asyncpg is the `postgres` extra, not needed on a SQLite install.
    try:
        import asyncpg

        from bot.storage.postgres import PostgresStore
    except ImportError as e:
        raise StoreUnavailable("postgresql:// needs asyncpg: pip install 'suo[postgres]'") from e

    try:
        return await PostgresStore.open(url, pool_min=pool_min, pool_max=pool_max)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as e:
        where = without_password(url)
        raise StoreUnavailable(f"cannot open the PostgreSQL database {where}: {_reason(e)}") from e


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__

"""SQLite engine of every storage port (WAL): the embedded single-box default. Queries go
through aiosqlite; click batches through a plain sqlite3 connection on the loop (see `add_clicks`).

Schema changes are numbered migrations applied in order and recorded in PRAGMA user_version.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from operator import itemgetter
from pathlib import Path

import aiosqlite
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_fixed,
)

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
    SharerCount,
    WebhookBinding,
)
from bot.storage import (
    CodeTaken,
    JournalMark,
    LinkDay,
    LiveNameTaken,
    SharedLink,
    StoreUnavailable,
    WatchStop,
)

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE groups (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        title TEXT NOT NULL,
        lang TEXT NOT NULL DEFAULT 'zh-CN',
        tz TEXT NOT NULL DEFAULT 'Asia/Shanghai',
        settings TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        UNIQUE (platform, chat_id)
    );
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        display_name TEXT NOT NULL,
        UNIQUE (platform, user_id)
    );
    CREATE TABLE links (
        code TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        group_id INTEGER NOT NULL REFERENCES groups(id),
        sharer_id INTEGER REFERENCES users(id),
        created_at TEXT NOT NULL,
        expires_at TEXT,
        max_clicks INTEGER,
        platforms TEXT,
        anti_red INTEGER NOT NULL DEFAULT 0,
        kind TEXT NOT NULL DEFAULT 'short',
        disabled INTEGER NOT NULL DEFAULT 0,
        UNIQUE (group_id, url)
    );
    CREATE TABLE clicks (
        id TEXT PRIMARY KEY,
        code TEXT NOT NULL,
        ts INTEGER NOT NULL, -- epoch milliseconds, UTC: cheap to write, to range and to bucket
        class TEXT NOT NULL,
        platform TEXT NOT NULL,
        referrer_host TEXT NOT NULL,
        visitor TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX clicks_code_ts ON clicks (code, ts);
    CREATE TABLE daily_salts (
        day TEXT PRIMARY KEY,
        salt BLOB NOT NULL
    );
    """,
    """
    CREATE TABLE webhook_bindings (
        group_id INTEGER PRIMARY KEY REFERENCES groups(id),
        webhook_key TEXT NOT NULL,
        bound_by INTEGER REFERENCES users(id),
        bound_at TEXT NOT NULL,
        invalid_since TEXT
    );
    CREATE TABLE group_admins (
        group_id INTEGER NOT NULL REFERENCES groups(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        added_by INTEGER REFERENCES users(id),
        added_at TEXT NOT NULL,
        PRIMARY KEY (group_id, user_id)
    );
    """,
    # Link rules: anti_red_platforms NULL follows the group, '' is explicitly off (the v1
    # `anti_red` flag was never used). human_opens counts 302s to people for max_clicks.
    """
    ALTER TABLE links ADD COLUMN anti_red_platforms TEXT;
    ALTER TABLE links ADD COLUMN human_opens INTEGER NOT NULL DEFAULT 0;
    """,
    # Rollups, kept in the clicks' own transaction: what stats and digests read. Hours (epoch
    # hours, UTC) so a period can start at midnight in any whole-hour timezone; readers per
    # UTC day because the visitor hash's salt changes daily.
    """
    CREATE TABLE click_hourly (
        code TEXT NOT NULL,
        hour INTEGER NOT NULL,
        class TEXT NOT NULL,
        platform TEXT NOT NULL,
        clicks INTEGER NOT NULL,
        PRIMARY KEY (code, hour, class, platform)
    ) WITHOUT ROWID;
    CREATE TABLE daily_readers (
        code TEXT NOT NULL,
        day INTEGER NOT NULL,
        visitor TEXT NOT NULL,
        PRIMARY KEY (code, day, visitor)
    ) WITHOUT ROWID;
    INSERT INTO click_hourly (code, hour, class, platform, clicks)
        SELECT code, ts / 3600000, class, platform, COUNT(*) FROM clicks
        GROUP BY code, ts / 3600000, class, platform;
    INSERT INTO daily_readers (code, day, visitor)
        SELECT DISTINCT code, ts / 86400000, visitor FROM clicks WHERE class = 'human';
    CREATE INDEX links_group_created ON links (group_id, created_at);
    CREATE INDEX links_sharer ON links (group_id, sharer_id);
    DROP INDEX clicks_code_ts;
    CREATE TABLE digest_runs (
        group_id INTEGER NOT NULL REFERENCES groups(id),
        period_start TEXT NOT NULL,
        status TEXT NOT NULL,
        claimed_by TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        sent_at TEXT,
        error TEXT,
        PRIMARY KEY (group_id, period_start)
    );
    """,
    # Integer click ids (writer << 32 | sequence): a rowid table appends cheaper than a text
    # key. Every recorder takes a writer number from click_writers, so ids never collide.
    """
    CREATE TABLE clicks_v5 (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL,
        ts INTEGER NOT NULL, -- epoch milliseconds, UTC
        class TEXT NOT NULL,
        platform TEXT NOT NULL,
        referrer_host TEXT NOT NULL,
        visitor TEXT NOT NULL
    );
    INSERT INTO clicks_v5 (code, ts, class, platform, referrer_host, visitor)
        SELECT code, ts, class, platform, referrer_host, visitor FROM clicks ORDER BY ts;
    DROP TABLE clicks;
    ALTER TABLE clicks_v5 RENAME TO clicks;
    CREATE TABLE click_writers (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL
    );
    """,
    # How many of a digest's messages (text, chart...) went out: a later run sends the rest.
    """
    ALTER TABLE digest_runs ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;
    """,
    # 活码 (live codes): a link of kind 'live' with a name in its group and a pool of targets.
    # The links table is rebuilt because UNIQUE (group_id, url) must hold for short links only:
    # a live code's url is its current target, which may also be shared as a short link.
    """
    CREATE TABLE links_v7 (
        code TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        group_id INTEGER NOT NULL REFERENCES groups(id),
        sharer_id INTEGER REFERENCES users(id),
        created_at TEXT NOT NULL,
        expires_at TEXT,
        max_clicks INTEGER,
        platforms TEXT,
        anti_red INTEGER NOT NULL DEFAULT 0,
        kind TEXT NOT NULL DEFAULT 'short',
        disabled INTEGER NOT NULL DEFAULT 0,
        anti_red_platforms TEXT,
        human_opens INTEGER NOT NULL DEFAULT 0,
        name TEXT -- a live code's name in its group; NULL for short links
    );
    INSERT INTO links_v7 (code, url, group_id, sharer_id, created_at, expires_at, max_clicks,
            platforms, anti_red, kind, disabled, anti_red_platforms, human_opens)
        SELECT code, url, group_id, sharer_id, created_at, expires_at, max_clicks, platforms,
            anti_red, kind, disabled, anti_red_platforms, human_opens FROM links;
    DROP TABLE links;
    ALTER TABLE links_v7 RENAME TO links;
    CREATE UNIQUE INDEX links_group_url ON links (group_id, url) WHERE kind = 'short';
    CREATE UNIQUE INDEX links_live_name ON links (group_id, name COLLATE NOCASE)
        WHERE kind = 'live' AND disabled = 0;
    CREATE INDEX links_group_created ON links (group_id, created_at);
    CREATE INDEX links_sharer ON links (group_id, sharer_id);
    CREATE TABLE live_targets (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL REFERENCES links(code),
        url TEXT NOT NULL,
        cap INTEGER, -- human opens this target takes before scans move on; NULL: no cap
        opens INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER, -- epoch seconds, UTC: compared in the redirector's claim
        position INTEGER NOT NULL, -- the pool's order: the lowest usable target is current
        added_at TEXT NOT NULL,
        added_by INTEGER REFERENCES users(id),
        retired_at TEXT -- replaced by `live set` or dropped: kept for the history
    );
    CREATE INDEX live_targets_code ON live_targets (code, position);
    CREATE TABLE live_reminders (
        code TEXT NOT NULL REFERENCES links(code),
        kind TEXT NOT NULL,
        target_id INTEGER NOT NULL, -- the target it is about (0: none)
        status TEXT NOT NULL,
        claimed_by TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        sent_at TEXT,
        PRIMARY KEY (code, kind, target_id)
    );
    """,
    # Readers per group and UTC day: a period's unique reader-days are a range count here,
    # not a DISTINCT over every link's readers (/stats 30d on millions of clicks).
    """
    CREATE TABLE group_readers (
        group_id INTEGER NOT NULL,
        day INTEGER NOT NULL,
        visitor TEXT NOT NULL,
        PRIMARY KEY (group_id, day, visitor)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO group_readers (group_id, day, visitor)
        SELECT l.group_id, r.day, r.visitor FROM daily_readers r JOIN links l ON l.code = r.code;
    """,
    # What every redirector process must forget from its link cache: written by triggers in
    # the transaction of the change itself (a new link, a rule change, a delete, a 活码
    # re-point, a group's rules), so no writer can forget to. Opens counted are no change.
    # Only the newest rows are kept: a process polls every half second.
    """
    CREATE TABLE link_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        code TEXT NOT NULL,
        at INTEGER NOT NULL -- epoch seconds, UTC
    );
    CREATE TRIGGER link_changes_pruned AFTER INSERT ON link_changes BEGIN
        DELETE FROM link_changes WHERE seq <= NEW.seq - 100000;
    END;
    CREATE TRIGGER links_inserted AFTER INSERT ON links BEGIN
        INSERT INTO link_changes (code, at) VALUES (NEW.code, strftime('%s', 'now'));
    END;
    CREATE TRIGGER links_changed AFTER UPDATE OF url, disabled, platforms, anti_red_platforms,
            expires_at, max_clicks, kind ON links BEGIN
        INSERT INTO link_changes (code, at) VALUES (NEW.code, strftime('%s', 'now'));
    END;
    CREATE TRIGGER group_rules_changed AFTER UPDATE OF settings ON groups BEGIN
        INSERT INTO link_changes (code, at)
            SELECT code, strftime('%s', 'now') FROM links WHERE group_id = NEW.id;
    END;
    """,
    # How much of each click journal (a recorder's local file, by file name) is stored:
    # written in the transaction of the batch read up to there, so a replay resumes exactly.
    """
    CREATE TABLE click_journals (
        name TEXT PRIMARY KEY,
        stored_bytes INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
)


_INSERT_CLICKS = (
    "INSERT OR IGNORE INTO clicks (id, code, ts, class, platform, referrer_host, visitor) VALUES "
)
_CODE, _TS, _CLASS, _PLATFORM = (itemgetter(n) for n in (1, 2, 3, 4))  # Click's fields
_ADD_HOURLY = (
    "INSERT INTO click_hourly (code, hour, class, platform, clicks) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET clicks = clicks + excluded.clicks"
)
_MARK_JOURNAL = (
    "INSERT INTO click_journals (name, stored_bytes) VALUES (?, ?) ON CONFLICT (name) "
    "DO UPDATE SET stored_bytes = max(stored_bytes, excluded.stored_bytes)"
)
_ADD_READER = "INSERT OR IGNORE INTO daily_readers (code, day, visitor) VALUES (?, ?, ?)"
_ADD_GROUP_READER = (
    "INSERT OR IGNORE INTO group_readers (group_id, day, visitor) "
    "SELECT group_id, ?2, ?3 FROM links WHERE code = ?1"
)
_ADD_KNOWN_GROUP_READER = (
    "INSERT OR IGNORE INTO group_readers (group_id, day, visitor) VALUES (?, ?, ?)"
)
# Links whose group a click batch finds in memory (see SqliteStore._link_groups).
_LINK_GROUPS_MAX = 65_536
_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 86_400_000
_CLICK_ROWS_PER_STATEMENT = 1000  # 7,000 parameters, under SQLite's 32,766 limit
_CLICKS_BUSY_MS = 20
# The click connection's page cache: a batch of clicks on many links updates as many rollup
# rows, each on a page of its own; with SQLite's default 2 MB those pages were read from the
# file again for most clicks (measured over a million links: 22 -> 12 µs of rollup per click).
_CLICKS_CACHE_KIB = 65_536
_CHECKPOINT_EVERY_BATCHES = 25


_MIGRATION_WAIT_SECONDS = 600.0
_EPOCH = date(1970, 1, 1)
# A group's clicks per link and UTC day (hour // 24), each with that day's unique readers.
_CLICKS_PER_LINK_DAY = (
    "WITH days AS (SELECT h.code, h.hour / 24 AS day, "
    "SUM(CASE WHEN h.class = 'human' THEN h.clicks ELSE 0 END) AS human, "
    "SUM(CASE WHEN h.class = 'preview' THEN h.clicks ELSE 0 END) AS previews, "
    "SUM(CASE WHEN h.class = 'bot' THEN h.clicks ELSE 0 END) AS bots "
    "FROM click_hourly h JOIN links l ON l.code = h.code WHERE l.group_id = ? "
    "GROUP BY h.code, h.hour / 24) "
    "SELECT code, day, human, previews, bots, (SELECT COUNT(*) FROM daily_readers r "
    "WHERE r.code = days.code AND r.day = days.day) FROM days ORDER BY code, day"
)
_CHANGES_PER_POLL = 10_000
_RESERVE_OPENS = (
    "UPDATE links SET human_opens = human_opens + ?1 WHERE code = ?2 "
    "AND (max_clicks IS NULL OR human_opens + ?1 <= max_clicks)"
)
_READER_CACHE_KIB = 65_536
_READER_BUSY_SECONDS = 0.05


def _is_locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


async def _no_watch() -> None:
    return None


def _open_reader(path: str) -> sqlite3.Connection:
    """A connection that can only read (`query_only`), for lookups by key.

    Not memory-mapped: SQLite unmaps a WAL reader's whole mapping whenever another connection
    has committed since its last read (every click batch), so each page was faulted in again;
    measured under load over a million links, a miss cost ~20 µs more mapped than read."""
    # It runs on the event loop, so it must never wait: a WAL reader takes no lock a writer
    # or a checkpoint holds (a PASSIVE checkpoint copies into the file only what every open
    # snapshot already sees, and reads go on meanwhile). It waits only while a crashed
    # writer's WAL index is rebuilt, and then at most the busy timeout before the lookup
    # fails over to the cached entry or a 503.
    db = sqlite3.connect(path, isolation_level=None, timeout=_READER_BUSY_SECONDS)
    try:
        db.execute("PRAGMA query_only=1")
        db.execute(f"PRAGMA cache_size=-{_READER_CACHE_KIB}")
    except BaseException:
        db.close()
        raise
    return db


async def _enable_wal(db: aiosqlite.Connection) -> None:
    """Switch the file to WAL. Turning a file that is still in rollback mode over takes an
    exclusive lock and SQLite does not wait for it (no busy handler): when another process is
    opening the same file at that moment, try again for up to 5 s."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(_is_locked),
        stop=stop_after_attempt(50),
        wait=wait_fixed(0.1),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            await db.execute("PRAGMA journal_mode=WAL")


def _statements(script: str) -> list[str]:
    """A migration script as single statements (sqlite3's executescript would commit)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not pending.strip().startswith("--"):
        statements.append(pending.strip())
    return statements


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _names(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(filter(None, value.split(",")))


def _joined(names: frozenset[str] | None) -> str | None:
    return None if names is None else ",".join(sorted(names))


_GROUP_COLUMNS = "id, platform, chat_id, title, lang, settings, tz"
_LINK_COLUMNS = (
    "code, url, group_id, sharer_id, created_at, disabled, platforms, anti_red_platforms, "
    "expires_at, max_clicks, human_opens, kind"
)


_LINK_FOR_URL = (
    f"SELECT {_LINK_COLUMNS} FROM links "  # noqa: S608 - constant columns
    "WHERE group_id = ? AND url = ? AND kind = 'short'"
)


def _group(row: sqlite3.Row) -> Group:
    try:
        settings = GroupSettings.from_dict(json.loads(row[5]))
    except (ValueError, TypeError, AttributeError):
        log.warning("group %s has unreadable settings; using defaults", row[0])
        settings = GroupSettings()
    return Group(row[0], row[1], row[2], row[3], row[4], settings, row[6])


def _link(row: sqlite3.Row) -> Link:
    rules = LinkRules(
        platforms=_names(row[6]),
        anti_red=_names(row[7]),
        expires_at=_dt(row[8]) if row[8] else None,
        max_clicks=row[9],
    )
    return Link(row[0], row[1], row[2], row[3], _dt(row[4]), bool(row[5]), rules, row[10], row[11])


_TARGET_COLUMNS = "id, code, url, cap, opens, expires_at, position, added_at, retired_at"
# The id of the target a scan gets now (parameters: code, now in epoch seconds). The claim
# runs it inside its UPDATE, which SQLite serializes with every other writer: two processes
# can never both take a target's last open.
_CURRENT_TARGET = (
    "SELECT id FROM live_targets WHERE code = ? AND retired_at IS NULL "
    "AND (cap IS NULL OR opens < cap) AND (expires_at IS NULL OR expires_at > ?) "
    "ORDER BY position, id LIMIT 1"
)

# Constant SQL built from constant parts (never from user text).
_RETIRE_CURRENT = f"UPDATE live_targets SET retired_at = ? WHERE id = ({_CURRENT_TARGET})"  # noqa: S608
_ADD_TARGET = (
    "INSERT INTO live_targets (code, url, cap, expires_at, position, added_at, added_by) "  # noqa: S608
    "SELECT ?, ?, ?, ?, {position}, ?, ? FROM live_targets WHERE code = ? "
    f"RETURNING {_TARGET_COLUMNS}"
)
_ADD_TARGET_FIRST = _ADD_TARGET.format(position="COALESCE(MIN(position), 0) - 1")
_ADD_TARGET_LAST = _ADD_TARGET.format(position="COALESCE(MAX(position), 0) + 1")
_FOLLOW_CURRENT = (
    "UPDATE links SET url = COALESCE((SELECT url FROM live_targets "  # noqa: S608
    f"WHERE id = ({_CURRENT_TARGET})), url) WHERE code = ?"
)
_CLAIM_TARGET = (
    f"UPDATE live_targets SET opens = opens + 1 WHERE id = ({_CURRENT_TARGET}) "  # noqa: S608
    f"RETURNING {_TARGET_COLUMNS}"
)
_PEEK_TARGET = f"SELECT {_TARGET_COLUMNS} FROM live_targets WHERE id = ({_CURRENT_TARGET})"  # noqa: S608


def _live_code(row: sqlite3.Row) -> LiveCode:
    return LiveCode(row[0], row[1], row[2], _dt(row[3]), bool(row[4]))


def _live_target(row: sqlite3.Row) -> LiveTarget:
    return LiveTarget(
        id=row[0],
        code=row[1],
        url=row[2],
        cap=row[3],
        opens=row[4],
        expires_at=None if row[5] is None else datetime.fromtimestamp(row[5], UTC),
        position=row[6],
        added_at=_dt(row[7]),
        retired_at=_dt(row[8]) if row[8] else None,
    )


class SqliteStore:
    """A `Store`: every port in `bot.storage` over one SQLite file."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        clicks_db: sqlite3.Connection,
        read_db: sqlite3.Connection | None = None,
    ) -> None:
        self._db = db
        # Link lookups and change polls have a connection of their own, read-only and used
        # on the loop: one primary-key read costs microseconds and a WAL reader never waits
        # for a writer, so a redirect neither queues behind click writes, stats or digests
        # nor pays aiosqlite's thread hand-off (which costs more than the read).
        self._read_db = read_db
        # The group of each link looked up lately (a link never changes group), oldest first
        # out: its clicks, written within a second of the lookup, then add their group's
        # readers without reading the links table once per click (clicks spread over many
        # links paid one such read each).
        self._link_groups: OrderedDict[str, int] = OrderedDict()
        # Clicks are written on the event loop through their own plain connection. Measured
        # under load, aiosqlite's thread cost the loop more (GIL hand-offs per batch) than the
        # ~2 ms a 500-row insert takes inline; checkpoints stay off this path (see add_clicks).
        self._clicks_db = clicks_db
        self._click_batches = 0
        self._found_version = 0  # the schema version before this store's migrations
        # One connection is shared by all tasks; a statement issued while another task's batch
        # transaction is open would join (and could be rolled back with) that batch.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        clicks_db = None
        try:
            await db.execute("PRAGMA busy_timeout=5000")
            await _enable_wal(db)
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            clicks_db = sqlite3.connect(path, isolation_level=None)
            clicks_db.execute("PRAGMA synchronous=NORMAL")
            # Never wait long on the event loop: a busy database fails the batch, which the
            # recorder retries and, at worst, spills to its file.
            clicks_db.execute(f"PRAGMA busy_timeout={_CLICKS_BUSY_MS}")
            clicks_db.execute("PRAGMA wal_autocheckpoint=0")
            clicks_db.execute(f"PRAGMA cache_size=-{_CLICKS_CACHE_KIB}")
            store = cls(db, clicks_db)
            store._found_version = await store._schema_version()
            await store._migrate()
            if path != ":memory:":  # a second connection to :memory: is another database
                store._read_db = _open_reader(path)
        except BaseException:
            if clicks_db is not None:
                clicks_db.close()
            await db.close()
            raise
        return store

    async def _migrate(self) -> None:
        """Apply the migrations this file lacks, each in its own IMMEDIATE transaction that
        reads the version again first: processes starting together on an old file take
        turns, and the second finds the work done instead of repeating it."""
        while True:
            await self._begin_migration()
            try:
                async with self._db.execute("PRAGMA user_version") as cur:
                    row = await cur.fetchone()
                version = int(row[0]) if row else 0
                if version >= len(MIGRATIONS):
                    await self._db.execute("COMMIT")
                    return
                for statement in _statements(MIGRATIONS[version]):
                    await self._db.execute(statement)
                await self._db.execute(f"PRAGMA user_version = {version + 1}")
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            log.info("sqlite schema migrated to version %d", version + 1)

    async def _begin_migration(self) -> None:
        """BEGIN IMMEDIATE, waiting as long as another process's migration may take (a table
        rebuild on millions of rows outlasts the 5 s busy timeout): up to 10 minutes."""
        # No pause between tries: each BEGIN IMMEDIATE waits out the busy timeout itself.
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_locked),
            stop=stop_after_delay(_MIGRATION_WAIT_SECONDS),
            before_sleep=lambda _: log.info("sqlite: another process is migrating; waiting"),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._db.execute("BEGIN IMMEDIATE")

    async def close(self) -> None:
        self._clicks_db.close()
        if self._read_db is not None:
            self._read_db.close()
        async with self._lock:
            await self._db.close()

    async def _read(self, sql: str, args: tuple[object, ...]) -> list[sqlite3.Row]:
        """Rows of an indexed lookup, from the read connection (synchronously: see
        __init__), or from the shared one for an in-memory database.

        Each read is a snapshot of its own. Sharing one across a loop turn saved the WAL
        read lock's fcntl calls (~5 µs of a 15 µs miss alone, lost in the noise of a
        redirect under load) but a snapshot open in any process when a checkpoint ends
        keeps the next write from starting the WAL over, and the file grows."""
        if self._read_db is None:
            return await self._all(sql, args)
        try:
            return self._read_db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StoreUnavailable(f"{type(e).__name__}: {e}") from e

    async def _one(self, sql: str, args: tuple[object, ...]) -> sqlite3.Row | None:
        async with self._lock:
            try:
                async with self._db.execute(sql, args) as cur:
                    return await cur.fetchone()
            except sqlite3.Error as e:
                raise StoreUnavailable(f"{type(e).__name__}: {e}") from e

    async def _all(self, sql: str, args: tuple[object, ...]) -> list[sqlite3.Row]:
        async with self._lock:
            try:
                async with self._db.execute(sql, args) as cur:
                    return list(await cur.fetchall())
            except sqlite3.Error as e:
                raise StoreUnavailable(f"{type(e).__name__}: {e}") from e

    async def upsert_group(
        self, platform: str, chat_id: str, title: str, lang: str = "zh-CN"
    ) -> Group:
        sql = (
            "INSERT INTO groups (platform, chat_id, title, lang, created_at) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (platform, chat_id) DO UPDATE SET title = excluded.title "
            f"RETURNING {_GROUP_COLUMNS}"
        )
        row = await self._one(
            sql,
            (platform, chat_id, title, lang, datetime.now(UTC).isoformat()),
        )
        assert row is not None  # noqa: S101 - RETURNING always yields the row
        return _group(row)

    async def get_group(self, group_id: int) -> Group | None:
        sql = f"SELECT {_GROUP_COLUMNS} FROM groups WHERE id = ?"  # noqa: S608 - constant
        rows = await self._read(sql, (group_id,))
        return _group(rows[0]) if rows else None

    async def set_group_settings(self, group_id: int, settings: GroupSettings) -> None:
        await self._one(
            "UPDATE groups SET settings = ? WHERE id = ?",
            (json.dumps(settings.as_dict(), ensure_ascii=False), group_id),
        )

    async def set_group_lang(self, group_id: int, lang: str) -> None:
        await self._one("UPDATE groups SET lang = ? WHERE id = ?", (lang, group_id))

    async def upsert_user(self, platform: str, user_id: str, display_name: str) -> int:
        row = await self._one(
            "INSERT INTO users (platform, user_id, display_name) VALUES (?, ?, ?) "
            "ON CONFLICT (platform, user_id) DO UPDATE SET display_name = excluded.display_name "
            "RETURNING id",
            (platform, user_id, display_name),
        )
        assert row is not None  # noqa: S101
        return int(row[0])

    async def create_link(
        self,
        code: str,
        url: str,
        group_id: int,
        sharer_id: int | None,
        created_at: datetime,
        rules: LinkRules = LinkRules(),  # noqa: B008 - frozen, shared safely
    ) -> tuple[Link, bool]:
        values = (code, url, group_id, sharer_id, created_at.isoformat())
        # One transaction: the link the insert gave way to is read before anyone can change it.
        inserted, existing = await self._transaction(
            [
                (
                    "INSERT INTO links (code, url, group_id, sharer_id, created_at, platforms, "
                    "anti_red_platforms, expires_at, max_clicks) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING code",
                    (*values, *self._rule_values(rules)),
                ),
                (_LINK_FOR_URL, (group_id, url)),
            ]
        )
        if inserted is not None:
            return Link(code, url, group_id, sharer_id, created_at, rules=rules), True
        if existing is None:
            raise CodeTaken(code)
        return _link(existing), False

    @staticmethod
    def _rule_values(rules: LinkRules) -> tuple[object, ...]:
        return (
            _joined(rules.platforms),
            _joined(rules.anti_red),
            rules.expires_at.isoformat() if rules.expires_at else None,
            rules.max_clicks,
        )

    async def get_link(self, code: str) -> Link | None:
        rows = await self._read(f"SELECT {_LINK_COLUMNS} FROM links WHERE code = ?", (code,))  # noqa: S608
        if not rows:
            return None
        link = _link(rows[0])
        groups = self._link_groups
        if code not in groups and len(groups) >= _LINK_GROUPS_MAX:
            # An OrderedDict's oldest goes in O(1); deleting a plain dict's first key leaves
            # a hole that every later first-key search walks (measured at 65,536 links:
            # 32 µs an eviction, a fifth of a random-code redirect).
            groups.popitem(last=False)
        groups[code] = link.group_id
        return link

    async def link_for_url(self, group_id: int, url: str) -> Link | None:
        row = await self._one(_LINK_FOR_URL, (group_id, url))
        return None if row is None else _link(row)

    async def set_link_rules(self, code: str, rules: LinkRules) -> None:
        await self._one(
            "UPDATE links SET platforms = ?, anti_red_platforms = ?, expires_at = ?, "
            "max_clicks = ? WHERE code = ?",
            (*self._rule_values(rules), code),
        )

    async def disable_link(self, code: str, group_id: int) -> bool:
        row = await self._one(
            "UPDATE links SET disabled = 1 WHERE code = ? AND group_id = ? AND disabled = 0 "
            "RETURNING code",
            (code, group_id),
        )
        return row is not None

    async def claim_human_open(self, code: str) -> bool:
        row = await self._one(
            "UPDATE links SET human_opens = human_opens + 1 WHERE code = ? "
            "AND (max_clicks IS NULL OR human_opens < max_clicks) RETURNING human_opens",
            (code,),
        )
        return row is not None

    async def reserve_human_opens(self, code: str, wanted: int) -> int:
        """A whole block while one is left, else one open: each a single statement without
        RETURNING, which SQLite serializes with every other writer and commits within one
        call. (A transaction left open across calls would hold the write lock through event
        loop turns, and a click batch written on the loop meanwhile would fail on it.)"""
        if await self._changed(_RESERVE_OPENS, (wanted, code)):
            return wanted
        return 1 if wanted > 1 and await self._changed(_RESERVE_OPENS, (1, code)) else 0

    async def _changed(self, sql: str, args: tuple[object, ...]) -> int:
        """How many rows one writing statement changed."""
        async with self._lock:
            try:
                async with self._db.execute(sql, args) as cur:
                    return int(cur.rowcount)
            except sqlite3.Error as e:
                raise StoreUnavailable(f"{type(e).__name__}: {e}") from e

    async def return_human_opens(self, code: str, unused: int) -> None:
        await self._one(
            "UPDATE links SET human_opens = MAX(human_opens - ?, 0) WHERE code = ?",
            (unused, code),
        )

    async def link_changes_since(self, seq: int) -> tuple[int, list[str]]:
        if seq < 0:
            rows = await self._read("SELECT COALESCE(MAX(seq), 0) FROM link_changes", ())
            return int(rows[0][0]), []
        rows = await self._read(
            "SELECT seq, code FROM link_changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, _CHANGES_PER_POLL),
        )
        return (int(rows[-1][0]) if rows else seq), [row[1] for row in rows]

    async def watch_link_changes(self, on_change: Callable[[str], None]) -> WatchStop:
        """SQLite cannot push: readers poll `link_changes_since`."""
        return _no_watch

    async def link_info(self, code: str) -> LinkInfo | None:
        link = await self.get_link(code)
        if link is None:
            return None
        group = await self.get_group(link.group_id)
        row = await self._one(
            "SELECT u.display_name, (SELECT COALESCE(SUM(h.clicks), 0) "
            "FROM click_hourly h WHERE h.code = l.code AND h.class = 'human') FROM links l "
            "LEFT JOIN users u ON u.id = l.sharer_id WHERE l.code = ?",
            (code,),
        )
        assert group is not None and row is not None  # noqa: S101 - the link was just read
        return LinkInfo(link, group, row[0], int(row[1]))

    async def add_clicks(self, clicks: Sequence[Click], mark: JournalMark | None = None) -> int:
        try:
            added = self._insert_clicks(clicks, mark)  # a Click is its row
        except sqlite3.Error as e:
            raise StoreUnavailable(f"{type(e).__name__}: {e}") from e
        self._click_batches += 1
        if self._click_batches % _CHECKPOINT_EVERY_BATCHES == 0:
            # Copy the WAL back into the database in aiosqlite's thread, not on the loop.
            try:
                await self._one("PRAGMA wal_checkpoint(PASSIVE)", ())
            except StoreUnavailable:
                log.warning("sqlite wal checkpoint failed; will try again")
        return added

    def _insert_clicks(self, clicks: Sequence[Click], mark: JournalMark | None) -> int:
        """One transaction: the clicks (one multi-row statement per 1,000), the hourly and
        reader rollups of those that were new, and the journal's mark. Synchronous by design."""
        db = self._clicks_db
        db.execute("BEGIN IMMEDIATE")
        try:
            if self._insert_rows(db, clicks) != len(clicks):
                # Some are stored already (a replay, or the retry of a batch that did commit):
                # start over with only the new ones, so the rollups count each click once.
                # Rare, so the common path never asks which ids exist.
                db.execute("ROLLBACK")
                db.execute("BEGIN IMMEDIATE")
                seen = self._stored_ids(db, [c[0] for c in clicks])
                fresh = []
                for click in clicks:  # also drops an id the batch itself holds twice
                    if click[0] not in seen:
                        seen.add(click[0])
                        fresh.append(click)
                clicks = fresh
                self._insert_rows(db, clicks)
            self._roll_up(db, clicks)
            if mark is not None:
                db.execute(_MARK_JOURNAL, (mark.journal, mark.offset))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return len(clicks)

    @staticmethod
    def _insert_rows(db: sqlite3.Connection, clicks: Sequence[Click]) -> int:
        before = db.total_changes
        for start in range(0, len(clicks), _CLICK_ROWS_PER_STATEMENT):
            chunk = clicks[start : start + _CLICK_ROWS_PER_STATEMENT]
            sql = _INSERT_CLICKS + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            db.execute(sql, list(chain.from_iterable(chunk)))
        return db.total_changes - before

    @staticmethod
    def _stored_ids(db: sqlite3.Connection, ids: list[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(ids), _CLICK_ROWS_PER_STATEMENT):
            chunk = ids[start : start + _CLICK_ROWS_PER_STATEMENT]
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(f"SELECT id FROM clicks WHERE id IN ({marks})", chunk)  # noqa: S608
            found.update(row[0] for row in rows)
        return found

    def _roll_up(self, db: sqlite3.Connection, clicks: Sequence[Click]) -> None:
        """Clicks per (link, hour, class, platform), readers per (link, day) and per (group,
        day), counted in C where it can be (zip, map, Counter): this runs on the redirector's
        event loop."""
        codes = list(map(_CODE, clicks))
        stamps = list(map(_TS, clicks))
        hourly = Counter(
            zip(
                codes,
                [t // _MS_PER_HOUR for t in stamps],
                map(_CLASS, clicks),
                map(_PLATFORM, clicks),
                strict=True,
            )
        )
        db.executemany(_ADD_HOURLY, [(*key, n) for key, n in hourly.items()])
        readers = {
            (code, t // _MS_PER_DAY, c[6])
            for code, t, c in zip(codes, stamps, clicks, strict=True)
            if c[3] == "human"
        }
        db.executemany(_ADD_READER, readers)
        groups = self._link_groups
        db.executemany(
            _ADD_KNOWN_GROUP_READER,
            {(groups[code], day, visitor) for code, day, visitor in readers if code in groups},
        )
        db.executemany(_ADD_GROUP_READER, [each for each in readers if each[0] not in groups])

    async def group_stats(self, group_id: int) -> GroupStats:
        group = await self.get_group(group_id)
        if group is None:
            raise KeyError(group_id)
        row = await self._one("SELECT COUNT(*) FROM links WHERE group_id = ?", (group_id,))
        counts = {"human": 0, "preview": 0, "bot": 0}
        for klass, count in await self._all(
            "SELECT h.class, SUM(h.clicks) FROM click_hourly h JOIN links l ON l.code = h.code "
            "WHERE l.group_id = ? GROUP BY h.class",
            (group_id,),
        ):
            counts[str(klass)] = int(count)
        return GroupStats(
            group=group,
            links=int(row[0]) if row else 0,
            human_clicks=counts["human"],
            preview_clicks=counts["preview"],
            bot_clicks=counts["bot"],
        )

    async def period_stats(self, group_id: int, period: Period, *, top: int) -> PeriodStats:
        group = await self.get_group(group_id)
        if group is None:
            raise KeyError(group_id)
        hours = (group_id, period.start_ms // _MS_PER_HOUR, -(-period.end_ms // _MS_PER_HOUR))
        totals, platforms = await self._clicks_by_kind(hours)
        readers = await self._one(
            "SELECT COUNT(*) FROM group_readers WHERE group_id = ? AND day >= ? AND day < ?",
            (group_id, period.start_ms // _MS_PER_DAY, -(-period.end_ms // _MS_PER_DAY)),
        )
        shared = await self._one(
            "SELECT COUNT(*) FROM links WHERE group_id = ? AND created_at >= ? AND created_at < ?",
            (group_id, period.start.isoformat(), period.end.isoformat()),
        )
        return PeriodStats(
            group=group,
            period=period,
            links_shared=int(shared[0]) if shared else 0,
            human=totals["human"],
            previews=totals["preview"],
            bots=totals["bot"],
            unique_readers=int(readers[0]) if readers else 0,
            per_day=await self._human_per_day(hours, period.days),
            top_links=await self._top_links(hours, top),
            top_sharers=await self._top_sharers(hours, period, top),
            platforms=tuple(platforms.most_common()),
        )

    async def _clicks_by_kind(
        self, hours: tuple[int, int, int]
    ) -> tuple[Counter[str], Counter[str]]:
        """A group's clicks in (group, first hour, end hour) per class, and its human clicks
        per platform."""
        by_kind = await self._all(
            "SELECT h.class, h.platform, SUM(h.clicks) FROM click_hourly h "
            "JOIN links l ON l.code = h.code WHERE l.group_id = ? AND h.hour >= ? AND h.hour < ? "
            "GROUP BY h.class, h.platform",
            hours,
        )
        totals: Counter[str] = Counter()
        platforms: Counter[str] = Counter()
        for klass, platform, count in by_kind:
            totals[klass] += count
            if klass == "human":
                platforms[platform] += count
        return totals, platforms

    async def _human_per_day(self, hours: tuple[int, int, int], days: int) -> tuple[int, ...]:
        per_day = [0] * days
        for index, count in await self._all(
            "SELECT (h.hour - ?) / 24, SUM(h.clicks) FROM click_hourly h "
            "JOIN links l ON l.code = h.code WHERE l.group_id = ? AND h.hour >= ? AND h.hour < ? "
            "AND h.class = 'human' GROUP BY 1",
            (hours[1], *hours),
        ):
            if 0 <= index < days:
                per_day[index] += count
        return tuple(per_day)

    async def _top_links(self, hours: tuple[int, int, int], top: int) -> tuple[LinkCount, ...]:
        rows = await self._all(
            "SELECT l.code, l.url, u.display_name, "
            "SUM(CASE WHEN h.class = 'human' THEN h.clicks ELSE 0 END) AS human, "
            "SUM(CASE WHEN h.class = 'preview' THEN h.clicks ELSE 0 END) "
            "FROM click_hourly h JOIN links l ON l.code = h.code "
            "LEFT JOIN users u ON u.id = l.sharer_id "
            "WHERE l.group_id = ? AND h.hour >= ? AND h.hour < ? "
            "GROUP BY l.code HAVING human > 0 ORDER BY human DESC, l.code LIMIT ?",
            (*hours, top),
        )
        return tuple(LinkCount(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows)

    async def _top_sharers(
        self, hours: tuple[int, int, int], period: Period, top: int
    ) -> tuple[SharerCount, ...]:
        # A sharer's links in the period: those shared in it and those opened in it, so a
        # member whose links nobody opened yet still has a place on the board.
        rows = await self._all(
            "WITH opened AS (SELECT h.code, SUM(h.clicks) AS human FROM click_hourly h "
            "JOIN links l ON l.code = h.code WHERE l.group_id = ? AND h.hour >= ? "
            "AND h.hour < ? AND h.class = 'human' GROUP BY h.code), "
            "active AS (SELECT l.sharer_id, COALESCE(o.human, 0) AS human FROM links l "
            "LEFT JOIN opened o ON o.code = l.code WHERE l.group_id = ? "
            "AND ((l.created_at >= ? AND l.created_at < ?) OR o.code IS NOT NULL)) "
            "SELECT u.display_name, COUNT(*) AS shared, SUM(a.human) AS human FROM active a "
            "JOIN users u ON u.id = a.sharer_id GROUP BY a.sharer_id "
            "ORDER BY human DESC, shared DESC, u.display_name LIMIT ?",
            (*hours, hours[0], period.start.isoformat(), period.end.isoformat(), top),
        )
        return tuple(SharerCount(r[0], int(r[1]), int(r[2])) for r in rows)

    async def sharer_links(
        self, group_id: int, sharer_id: int, period: Period, *, top: int
    ) -> list[LinkCount]:
        rows = await self._all(
            "SELECT l.code, l.url, u.display_name, "
            "COALESCE(SUM(CASE WHEN h.class = 'human' THEN h.clicks END), 0) AS human, "
            "COALESCE(SUM(CASE WHEN h.class = 'preview' THEN h.clicks END), 0) "
            "FROM links l LEFT JOIN users u ON u.id = l.sharer_id "
            "LEFT JOIN click_hourly h ON h.code = l.code AND h.hour >= ? AND h.hour < ? "
            "WHERE l.group_id = ? AND l.sharer_id = ? "
            "GROUP BY l.code ORDER BY human DESC, l.created_at DESC LIMIT ?",
            (
                period.start_ms // _MS_PER_HOUR,
                -(-period.end_ms // _MS_PER_HOUR),
                group_id,
                sharer_id,
                top,
            ),
        )
        return [LinkCount(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]

    async def set_group_tz(self, group_id: int, tz: str) -> None:
        await self._one("UPDATE groups SET tz = ? WHERE id = ?", (tz, group_id))

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
        """Take the (group, period) digest for sending: True for exactly one caller, until
        it is sent; a failed run, or one whose sender vanished past `lease`, can be taken again."""
        row = await self._one(
            "INSERT INTO digest_runs (group_id, period_start, status, claimed_by, claimed_at) "
            "VALUES (?, ?, 'sending', ?, ?) ON CONFLICT (group_id, period_start) DO UPDATE SET "
            "status = 'sending', claimed_by = excluded.claimed_by, "
            "claimed_at = excluded.claimed_at, attempts = digest_runs.attempts + 1 "
            "WHERE (digest_runs.status = 'failed' "
            "OR (digest_runs.status = 'sending' AND digest_runs.claimed_at < ?)) "
            "AND (? IS NULL OR digest_runs.attempts < ?) "
            "RETURNING group_id",
            (
                group_id,
                period_start.astimezone(UTC).isoformat(),
                owner,
                now.astimezone(UTC).isoformat(),
                (now - lease).astimezone(UTC).isoformat(),
                max_runs,
                max_runs,
            ),
        )
        return row is not None

    async def finish_digest(
        self, group_id: int, period_start: datetime, owner: str, now: datetime, error: str | None
    ) -> None:
        """Mark a claimed run sent, or failed (`error`) so a later attempt may take it."""
        await self._one(
            "UPDATE digest_runs SET status = ?, sent_at = ?, error = ? "
            "WHERE group_id = ? AND period_start = ? AND claimed_by = ?",
            (
                "failed" if error else "sent",
                None if error else now.astimezone(UTC).isoformat(),
                error,
                group_id,
                period_start.astimezone(UTC).isoformat(),
                owner,
            ),
        )

    async def digest_parts_sent(self, group_id: int, period_start: datetime) -> int:
        row = await self._one(
            "SELECT parts_sent FROM digest_runs WHERE group_id = ? AND period_start = ?",
            (group_id, period_start.astimezone(UTC).isoformat()),
        )
        return 0 if row is None else int(row[0])

    async def digest_part_sent(
        self, group_id: int, period_start: datetime, owner: str, parts_sent: int
    ) -> None:
        await self._one(
            "UPDATE digest_runs SET parts_sent = ? "
            "WHERE group_id = ? AND period_start = ? AND claimed_by = ?",
            (parts_sent, group_id, period_start.astimezone(UTC).isoformat(), owner),
        )

    async def digest_status(self, group_id: int, period_start: datetime) -> str | None:
        row = await self._one(
            "SELECT status FROM digest_runs WHERE group_id = ? AND period_start = ?",
            (group_id, period_start.astimezone(UTC).isoformat()),
        )
        return None if row is None else str(row[0])

    async def find_groups(self, name: str | None) -> list[Group]:
        sql = f"SELECT {_GROUP_COLUMNS} FROM groups"  # noqa: S608 - constant columns
        args: tuple[str, ...] = ()
        if name is not None:
            sql += " WHERE chat_id = ? OR title = ?"
            args = (name, name)
        rows = await self._all(sql + " ORDER BY id", args)
        return [_group(r) for r in rows]

    async def bind_webhook(
        self, group_id: int, webhook_key: str, bound_by: int | None, at: datetime
    ) -> None:
        await self._one(
            "INSERT INTO webhook_bindings (group_id, webhook_key, bound_by, bound_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (group_id) DO UPDATE SET "
            "webhook_key = excluded.webhook_key, bound_by = excluded.bound_by, "
            "bound_at = excluded.bound_at, invalid_since = NULL",
            (group_id, webhook_key, bound_by, at.isoformat()),
        )

    async def webhook_for(self, group_id: int) -> WebhookBinding | None:
        row = await self._one(
            "SELECT webhook_key, invalid_since FROM webhook_bindings WHERE group_id = ?",
            (group_id,),
        )
        if row is None:
            return None
        return WebhookBinding(group_id, row[0], _dt(row[1]) if row[1] else None)

    async def mark_webhook_invalid(self, group_id: int, at: datetime) -> None:
        await self._one(
            "UPDATE webhook_bindings SET invalid_since = ? WHERE group_id = ?",
            (at.isoformat(), group_id),
        )

    async def unbind_webhook(self, group_id: int) -> None:
        await self._one("DELETE FROM webhook_bindings WHERE group_id = ?", (group_id,))

    async def add_group_admin(
        self, group_id: int, platform: str, user_id: str, added_by: int | None, at: datetime
    ) -> None:
        # One transaction: the member and their admin row are stored together or not at all.
        await self._transaction(
            [
                (
                    "INSERT INTO users (platform, user_id, display_name) VALUES (?, ?, ?) "
                    "ON CONFLICT (platform, user_id) DO NOTHING",
                    (platform, user_id, user_id),
                ),
                (
                    "INSERT INTO group_admins (group_id, user_id, added_by, added_at) "
                    "SELECT ?, id, ?, ? FROM users WHERE platform = ? AND user_id = ? "
                    "ON CONFLICT DO NOTHING",
                    (group_id, added_by, at.isoformat(), platform, user_id),
                ),
            ]
        )

    async def is_group_admin(self, group_id: int, user_row_id: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM group_admins WHERE group_id = ? AND user_id = ?",
            (group_id, user_row_id),
        )
        return row is not None

    async def journal_offset(self, journal: str) -> int:
        row = await self._one("SELECT stored_bytes FROM click_journals WHERE name = ?", (journal,))
        return int(row[0]) if row else 0

    async def forget_journal(self, journal: str) -> None:
        await self._one("DELETE FROM click_journals WHERE name = ?", (journal,))

    async def new_click_writer(self, at: datetime) -> int:
        row = await self._one(
            "INSERT INTO click_writers (started_at) VALUES (?) RETURNING id",
            (at.astimezone(UTC).isoformat(),),
        )
        assert row is not None  # noqa: S101 - RETURNING always yields the row
        return int(row[0])

    async def daily_salt(self, day: date) -> bytes:
        key = day.isoformat()
        # The salt is created once per day and deleted after it, so visitor hashes cannot be
        # linked across days, and all redirector processes sharing this store agree on it.
        await self._one(
            "INSERT INTO daily_salts (day, salt) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
            (key, secrets.token_bytes(32)),
        )
        await self._one("DELETE FROM daily_salts WHERE day < ?", (key,))
        row = await self._one("SELECT salt FROM daily_salts WHERE day = ?", (key,))
        assert row is not None  # noqa: S101
        return bytes(row[0])

    # -- 活码 (live codes) -----------------------------------------------------------------------

    async def create_live_code(
        self, code: str, group_id: int, name: str, created_by: int | None, at: datetime
    ) -> LiveCode:
        """Insert the live code's link (no target yet: url ''). Raises `LiveNameTaken` when
        the group has an active live code of that name, `CodeTaken` when the code is used."""
        try:
            row = await self._one(
                "INSERT INTO links (code, url, group_id, sharer_id, created_at, kind, name) "
                "VALUES (?, '', ?, ?, ?, 'live', ?) ON CONFLICT (code) DO NOTHING RETURNING code",
                (code, group_id, created_by, at.isoformat(), name),
            )
        except StoreUnavailable as e:
            if isinstance(e.__cause__, sqlite3.IntegrityError):
                raise LiveNameTaken(name) from e
            raise
        if row is None:
            raise CodeTaken(code)
        return LiveCode(code, group_id, name, at)

    async def live_code(self, group_id: int, name: str) -> LiveCode | None:
        row = await self._one(
            "SELECT code, group_id, name, created_at, disabled FROM links WHERE group_id = ? "
            "AND kind = 'live' AND disabled = 0 AND name = ? COLLATE NOCASE",
            (group_id, name),
        )
        return None if row is None else _live_code(row)

    async def live_codes(self, group_id: int | None) -> list[LiveCode]:
        """A group's active live codes by name, or every group's (`None`)."""
        rows = await self._all(
            "SELECT code, group_id, name, created_at, disabled FROM links WHERE kind = 'live' "
            "AND disabled = 0 AND (? IS NULL OR group_id = ?) ORDER BY group_id, name",
            (group_id, group_id),
        )
        return [_live_code(r) for r in rows]

    async def live_targets(self, code: str) -> list[LiveTarget]:
        """The pool in order, retired targets included (the history)."""
        rows = await self._all(
            f"SELECT {_TARGET_COLUMNS} FROM live_targets WHERE code = ? "  # noqa: S608
            "ORDER BY position, id",
            (code,),
        )
        return [_live_target(r) for r in rows]

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
    ) -> LiveTarget:
        """Put `url` in the pool: in front, retiring the target that is current at `at`
        (`current`, what `live set` does), else at the end. One transaction."""
        now_s = at.timestamp()
        statements: list[tuple[str, tuple[object, ...]]] = []
        if current:
            statements.append((_RETIRE_CURRENT, (at.isoformat(), code, now_s)))
        expires = None if expires_at is None else int(expires_at.timestamp())
        statements.append(
            (
                _ADD_TARGET_FIRST if current else _ADD_TARGET_LAST,
                (code, url, cap, expires, at.isoformat(), added_by, code),
            )
        )
        # links.url follows the current target for pages that show a link's destination.
        statements.append((_FOLLOW_CURRENT, (code, now_s, code)))
        rows = await self._transaction(statements)
        inserted = rows[-2]
        assert inserted is not None  # noqa: S101 - INSERT ... SELECT of an aggregate: one row
        return _live_target(inserted)

    async def retire_live_target(self, code: str, target_id: int, at: datetime) -> bool:
        """Take a target out of the pool (kept for the history); False if it was not in it."""
        rows = await self._transaction(
            [
                (
                    "UPDATE live_targets SET retired_at = ? WHERE id = ? AND code = ? "
                    "AND retired_at IS NULL RETURNING id",
                    (at.isoformat(), target_id, code),
                ),
                (_FOLLOW_CURRENT, (code, at.timestamp(), code)),
            ]
        )
        return rows[0] is not None

    async def claim_live_target(self, code: str, at: datetime) -> LiveTarget | None:
        """Count one human open against the current target and return it, atomically across
        processes: full, expired and retired targets are skipped. None: the pool is dry."""
        row = await self._one(_CLAIM_TARGET, (code, at.timestamp()))
        return None if row is None else _live_target(row)

    async def current_live_target(self, code: str, at: datetime) -> LiveTarget | None:
        """The target a scan at `at` would get, without counting it (previews, bots, HEAD)."""
        row = await self._one(_PEEK_TARGET, (code, at.timestamp()))
        return None if row is None else _live_target(row)

    async def claim_live_reminder(
        self, code: str, kind: str, target_id: int, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        """Take one reminder for sending: True for exactly one caller, ever, once it is sent;
        a claim whose sender vanished past `lease` (or released after a failure) is free."""
        row = await self._one(
            "INSERT INTO live_reminders (code, kind, target_id, status, claimed_by, claimed_at) "
            "VALUES (?, ?, ?, 'sending', ?, ?) ON CONFLICT (code, kind, target_id) DO UPDATE "
            "SET claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at "
            "WHERE live_reminders.status = 'sending' AND live_reminders.claimed_at < ? "
            "RETURNING code",
            (
                code,
                kind,
                target_id,
                owner,
                now.astimezone(UTC).isoformat(),
                (now - lease).astimezone(UTC).isoformat(),
            ),
        )
        return row is not None

    async def finish_live_reminder(
        self, code: str, kind: str, target_id: int, owner: str, now: datetime, *, sent: bool
    ) -> None:
        """Mark a claimed reminder sent, or release it (not sent) for a later check."""
        if sent:
            sql = (
                "UPDATE live_reminders SET status = 'sent', sent_at = ? "
                "WHERE code = ? AND kind = ? AND target_id = ? AND claimed_by = ?"
            )
            args: tuple[object, ...] = (now.astimezone(UTC).isoformat(),)
        else:
            sql = (
                "DELETE FROM live_reminders WHERE code = ? AND kind = ? AND target_id = ? "
                "AND claimed_by = ? AND status = 'sending'"
            )
            args = ()
        await self._one(sql, (*args, code, kind, target_id, owner))

    async def _schema_version(self) -> int:
        row = await self._one("PRAGMA user_version", ())
        return int(row[0]) if row else 0

    async def schema_versions(self) -> tuple[int, int]:
        return self._found_version, await self._schema_version()

    async def group_links(self, group_id: int) -> list[SharedLink]:
        rows = await self._all(
            f"SELECT {_LINK_COLUMNS}, u.display_name FROM links "  # noqa: S608 - constant
            "LEFT JOIN users u ON u.id = links.sharer_id WHERE links.group_id = ? "
            "ORDER BY links.created_at, links.code",
            (group_id,),
        )
        return [SharedLink(_link(r), r[12]) for r in rows]

    async def clicks_per_link_day(self, group_id: int) -> list[LinkDay]:
        rows = await self._all(_CLICKS_PER_LINK_DAY, (group_id,))
        return [LinkDay(r[0], _EPOCH + timedelta(days=r[1]), *map(int, r[2:])) for r in rows]

    async def _transaction(
        self, statements: Sequence[tuple[str, tuple[object, ...]]]
    ) -> list[sqlite3.Row | None]:
        """Run `statements` in one IMMEDIATE transaction; each one's first row (or None)."""
        rows: list[sqlite3.Row | None] = []
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    for sql, args in statements:
                        async with self._db.execute(sql, args) as cur:
                            rows.append(await cur.fetchone())
                    await self._db.execute("COMMIT")
                except BaseException:
                    await self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise StoreUnavailable(f"{type(e).__name__}: {e}") from e
        return rows

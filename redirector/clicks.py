"""Click recording off the redirect path: every click goes to this process's journal before the
302 leaves, and the journal goes into the database in batches; no click a reader saw is lost.

A redirect appends one line (an `Entry`: visitor already hashed, no IP) to the local journal
with one write(): the kernel keeps it when the process is killed. `ClickRecorder.flush` fsyncs
the journal, then stores it batch by batch, each batch with the journal offset it reached in
the same transaction (a `JournalMark`), so a replay resumes exactly there; click ids make any
second write of a click a no-op for the rows and the rollups. Memory holds one batch, except
when the journal cannot be written: then clicks wait in memory (bounded, said in the log).
Journals dead processes left are ingested and removed at start and on a timer.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import itertools
import logging
import os
import secrets
import time
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from bot.clock import Clock, epoch_seconds
from bot.model import Click, ClickClass
from bot.storage import ClickSink, JournalMark
from redirector.classify import classify_user_agent
from redirector.journal import (
    Entry,
    OwnJournal,
    entry_line,
    journal_family,
    read_batch,
    remove_taken,
    take_dead,
)

log = logging.getLogger(__name__)

# A User-Agent not seen before takes 0.1-0.3 ms to classify; the flush gives the event loop a
# turn after this much of it, so redirects never wait behind a whole batch of new ones.
_CLASSIFY_SLICE_SECONDS = 0.002
_MS_PER_DAY = 86_400_000
# tuple.__new__ builds a NamedTuple without the Python-level __new__ it adds.
_new_click = _new_entry = tuple.__new__
_EPOCH = date(1970, 1, 1)
# A journal wholly stored is replaced by a fresh file once it is this big, so a long-lived
# process's file does not grow without end.
_ROTATE_BYTES = 16 << 20
# Troubles that repeat on every request (a full disk, a database down) are logged this often.
_ALARM_SECONDS = 10.0


class ClickStats(NamedTuple):
    """The recorder's counts since it started (gauges marked), for /healthz and /metrics."""

    journalled: int  # clicks appended to this process's journal
    held: int  # gauge: clicks in memory because the journal could not take them
    queued: int  # gauge: recorded, not yet in the database (journal backlog + held)
    written: int  # clicks this process's recording added to the database
    replayed: int  # clicks added from journals dead processes left
    lost: int  # clicks neither the journal nor memory could keep (logged)


@lru_cache(maxsize=1024)
def referrer_host(referrer: str) -> str:
    if not referrer:
        return ""
    try:
        return (urlsplit(referrer).hostname or "")[:253]
    except ValueError:
        return ""


@lru_cache(maxsize=4096)
def visitor_hash(salt: bytes, ip: str, user_agent: str) -> str:
    """A per-day pseudonym: the same reader on the same day, without keeping the IP.

    Keyed BLAKE2b is a MAC like HMAC-SHA256, at half the cost; cached, as a reader's clicks
    come in runs (2.4 µs a hash on the redirect path, 0.3 µs a cache hit).
    """
    message = f"{ip}\0{user_agent}".encode()
    return hashlib.blake2b(message, key=salt[:64], digest_size=16).hexdigest()


class _Alarm:
    """Says when a trouble that may recur on every request is due to be logged again."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._interval
        return True


class ClickRecorder:
    """One process's click recording: `record` on the redirect path, `start`/`stop` around
    serving, `stats` for health and metrics (see the module's docstring)."""

    def __init__(
        self,
        store: ClickSink,
        *,
        clock: Clock,
        journal: Path,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        held_limit: int = 50_000,
        sweep_interval: float = 5.0,
        rotate_bytes: int = _ROTATE_BYTES,
    ) -> None:
        self._store = store
        self._clock = clock
        self._epoch = epoch_seconds(clock)
        # The configured path: each process's journal, and the dead ones', lie beside it.
        self._configured = journal
        self._journal = OwnJournal(journal, os.getpid())
        self._journal_tried = False
        self._offset = 0  # how much of our journal is in the database
        # The newest entries written to the journal, with each one's end offset, so the ingest
        # need not read back and parse what it has (a few µs a click): valid from
        # `_recent_from` on, None while the file is ahead (an outage, a failed write).
        self._recent: list[Entry] = []
        self._recent_ends: list[int] = []
        self._recent_from: int | None = 0
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._held: list[Entry] = []
        self._held_limit = held_limit
        self._sweep_interval = sweep_interval
        self._rotate_bytes = rotate_bytes
        self._wake = asyncio.Event()
        self._unflushed = 0
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._salt = (-1, b"")  # (epoch day, salt) hashing today's visitors
        self._salt_shared = False  # the store's salt, not a stand-in of this process
        self._salt_asked = -1  # the day the store was last asked for
        self._stopping = False
        self._journal_alarm = _Alarm(_ALARM_SECONDS)
        self._store_alarm = _Alarm(_ALARM_SECONDS)
        # Ids are fixed when a click arrives, so a batch stored twice (a replay, a retry of
        # a batch that did commit) is recognised by the store instead of counted twice:
        # writer << 32 | sequence, the writer number taken from the store at start. Until then
        # (or when the store is down at start) a random writer from a range it never hands out.
        self._ids = itertools.count(((1 << 30) | secrets.randbits(29)) << 32)
        self._journalled = self._ingested = self._written = self._replayed = self._lost = 0

    def stats(self) -> ClickStats:
        queued = self._journalled - self._ingested + len(self._held)
        return ClickStats(
            self._journalled, len(self._held), queued, self._written, self._replayed, self._lost
        )

    def record(
        self,
        code: str,
        kind: tuple[ClickClass, str] | None,
        user_agent: str,
        ip: str,
        referrer: str,
    ) -> None:
        """Called on the redirect path, before the 302 is sent: one write() to the journal.
        `kind` is (class, platform) when the redirect already classified the User-Agent; None
        leaves it to the ingest (the User-Agent is journalled for it)."""
        ts_ms = int(self._epoch() * 1000)
        day = ts_ms // _MS_PER_DAY
        salt = self._salt[1] if self._salt[0] == day else self._stand_in_salt(day)
        klass, platform = ("", "") if kind is None else kind
        entry: Entry = _new_entry(
            Entry,
            (
                next(self._ids),
                code,
                ts_ms,
                klass,
                platform,
                referrer_host(referrer) if referrer else "",
                visitor_hash(salt, ip, user_agent),
                user_agent if kind is None else "",
            ),
        )
        try:
            if self._journal.fd is None and not self._journal_tried:
                self._open_journal()
            self._journal.append(entry_line(entry))
        except OSError as e:
            self._hold(entry, e)
            return
        if self._recent_from is not None:
            if len(self._recent) < 2 * self._batch_size:
                self._recent.append(entry)
                self._recent_ends.append(self._journal.end)
            else:  # the store is behind: the file has the rest
                self._forget_recent(None)
        self._journalled += 1
        self._unflushed += 1
        if self._unflushed >= self._batch_size:
            self._wake.set()

    def _stand_in_salt(self, day: int) -> bytes:
        """A salt of this process for a day the store's salt is not known yet (just after
        midnight UTC, until the next tick asks, or while the store is down): that day's
        unique readers may count such a reader twice; counting every click matters more."""
        self._salt = (day, secrets.token_bytes(32))
        self._salt_shared = False
        self._wake.set()
        return self._salt[1]

    def _forget_recent(self, start: int | None) -> None:
        self._recent.clear()
        self._recent_ends.clear()
        self._recent_from = start

    def _hold(self, entry: Entry, error: OSError) -> None:
        """The journal refused a click: keep it in memory, up to a bound, and say so."""
        self._forget_recent(None)  # a write may have failed midway: offsets are unknown
        if len(self._held) < self._held_limit:
            self._held.append(entry)
        else:
            self._lost += 1
        if self._journal_alarm.due():
            log.error(
                "click journal %s cannot be written (%s): %d clicks held in memory "
                "(at most %d), %d lost so far",
                self._journal.path or self._configured.parent,
                error.strerror or type(error).__name__,
                len(self._held),
                self._held_limit,
                self._lost,
            )

    def _open_journal(self) -> None:
        self._journal_tried = True
        self._journal.open()
        self._offset = 0
        self._forget_recent(0)

    async def start(self) -> None:
        """Take a writer number and today's salt, store what dead processes' journals hold,
        then ingest on a timer."""
        try:
            writer = await self._store.new_click_writer(self._clock())
        except Exception as e:
            log.warning("no click writer number from the store (%s); using a random one", e)
        else:
            self._ids = itertools.count(writer << 32)
        await self._share_salt()
        with contextlib.suppress(OSError):  # record() says so, with counts, when it matters
            self._open_journal()
        # Dead processes' journals are the task's first sweep, not start()'s: a big one (an
        # outage's worth) must not keep the redirector from serving.
        self._task = asyncio.create_task(self._run(), name="click-recorder")

    async def stop(self) -> None:
        """Let the timer finish its batch (never cancel a write midway), store the rest, and
        remove the journal when all of it is in (else the next process ingests it)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
        stored = self._journal.fd is not None and self._offset == self._journal.end
        if stored:
            try:
                await self._store.forget_journal(self._journal.name)
            except Exception:
                stored = False
        self._journal.close(remove=stored)
        if self._held or self._lost:
            self._lost += len(self._held)
            log.error(
                "click recorder stopped: %d clicks lost (the journal could not take them "
                "and the database was unavailable)",
                self._lost,
            )
            self._held.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()  # the first tick takes dead processes' journals in
        while not self._stopping:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            sweep = loop.time() >= next_sweep
            try:
                # A new day's salt at once; while the store is down, once per sweep.
                if not self._salt_shared and (self._salt_asked != self._salt[0] or sweep):
                    await self._share_salt()
                await self.flush()
                if sweep:
                    next_sweep = loop.time() + self._sweep_interval
                    await self.sweep_dead()
            except Exception:
                # flush() and sweep_dead() report the store's failures; this is a bug.
                log.exception("click flush failed")

    async def _share_salt(self) -> None:
        """Hash today's visitors with the store's salt, which every process shares."""
        day = self._salt_asked = int(self._epoch() * 1000) // _MS_PER_DAY
        try:
            salt = await self._store.daily_salt(_EPOCH + timedelta(days=day))
        except Exception:
            if self._store_alarm.due():
                log.warning("daily salt unavailable, using a process-local one for day %d", day)
            if self._salt[0] != day:
                self._stand_in_salt(day)
            return
        self._salt, self._salt_shared = (day, salt), True

    async def _to_clicks(self, entries: list[Entry]) -> list[Click]:
        """Clicks from journal entries, classifying those the redirect did not."""
        clicks: list[Click] = []
        append = clicks.append
        clock = time.perf_counter
        turn_ends = clock() + _CLASSIFY_SLICE_SECONDS
        for click_id, code, ts_ms, klass, platform, host, visitor, user_agent in entries:
            if klass:
                kind = ClickClass(klass), platform
            else:
                kind = classify_user_agent(user_agent)
                if clock() > turn_ends:
                    await asyncio.sleep(0)
                    turn_ends = clock() + _CLASSIFY_SLICE_SECONDS
            append(_new_click(Click, (click_id, code, ts_ms, *kind, host, visitor)))
        return clicks

    async def flush(self) -> None:
        """Store what was recorded until now: clicks held in memory, then our journal from
        its mark, batch after batch. A store that fails is logged; the next tick tries again."""
        async with self._flush_lock:
            self._unflushed = 0
            journal = self._journal
            if journal.fd is not None and journal.synced != journal.end:
                # Whatever the store does: a power loss costs at most what came after this.
                try:
                    await asyncio.to_thread(journal.sync)
                except OSError as e:
                    if self._journal_alarm.due():
                        log.error("click journal %s: fsync failed (%s)", journal.path, e.strerror)
            try:
                await self._store_held()
                await self._ingest_own()
            except Exception as e:
                self._store_failed(e)

    def _store_failed(self, error: Exception) -> None:
        if self._store_alarm.due():
            log.error(
                "storing clicks failed (%s): %d clicks wait, %d of them in memory only "
                "(the journal could not take them: lost if the process dies); %d lost so far",
                type(error).__name__,
                self.stats().queued,
                len(self._held),
                self._lost,
            )

    async def _store_held(self) -> None:
        while self._held:
            entries = self._held[: self._batch_size]
            self._written += await self._store.add_clicks(await self._to_clicks(entries))
            # record() only appends meanwhile: the batch is still at the front.
            del self._held[: len(entries)]

    async def _ingest_own(self) -> None:
        journal = self._journal
        if journal.fd is None:
            if self._journal_tried:  # it failed before: try again on each tick
                with contextlib.suppress(OSError):
                    self._open_journal()
            return
        end = journal.end
        while self._offset < end:
            entries, batch_end = self._next_batch(journal.fd)
            if batch_end == self._offset:
                break  # an unfinished line: a write the disk refused midway
            clicks = await self._to_clicks(entries)
            mark = JournalMark(journal.name, batch_end)
            self._written += await self._store.add_clicks(clicks, mark)
            await asyncio.sleep(0)  # a backlog (after an outage) must not stall redirects
            self._offset = batch_end
            self._ingested += len(entries)
            if self._recent_from is not None and self._recent_from < batch_end:
                taken = bisect.bisect_right(self._recent_ends, batch_end)
                del self._recent[:taken], self._recent_ends[:taken]
                self._recent_from = batch_end
            elif self._recent_from is None and self._offset == journal.end:
                self._forget_recent(self._offset)  # caught up: memory has the next ones
        if self._offset >= self._rotate_bytes:
            await self._rotate()

    def _next_batch(self, fd: int) -> tuple[list[Entry], int]:
        """The next batch from our journal, and the offset after it: from memory when it has
        them, else read back from the file."""
        if self._recent_from == self._offset and self._recent:
            count = min(len(self._recent), self._batch_size)
            return self._recent[:count], self._recent_ends[count - 1]
        batch = read_batch(fd, self._offset, self._batch_size)
        if batch.unreadable:
            log.warning("skipped %d torn lines in %s", batch.unreadable, self._journal.path)
        return batch.entries, batch.end

    async def _rotate(self) -> None:
        """Start a fresh journal once the big one is wholly stored."""
        journal = self._journal
        if journal.fd is None or journal.path is None or journal.end != self._offset:
            return
        old_path, old_fd = journal.path, journal.fd
        # No await from the size check to here: no click lands in the old file after it.
        journal.path = journal.fd = None
        with contextlib.suppress(OSError):
            self._open_journal()
        try:
            await self._store.forget_journal(old_path.name)
        except Exception:
            os.close(old_fd)  # a sweep removes it: its mark says it is all stored
            return
        remove_taken(old_path, old_fd)

    async def sweep_dead(self) -> int:
        """Store and remove the journals (and older versions' spill files) that processes
        no longer alive left beside ours; the clicks they added."""
        try:
            paths = await asyncio.to_thread(journal_family, self._configured)
        except OSError as e:  # out of open files, say: the next sweep tries again
            self._sweep_failed(e)
            return 0
        added = 0
        async with self._flush_lock:
            for path in paths:
                if path == self._journal.path:
                    continue
                try:
                    fd = take_dead(path)
                except OSError as e:
                    self._sweep_failed(e)
                    break
                if fd is None:
                    continue  # its process lives, or another one took it
                try:
                    added += await self._ingest_dead(path, fd)
                except Exception as e:
                    os.close(fd)
                    self._store_failed(e)
                    break
        self._replayed += added
        return added

    def _sweep_failed(self, error: OSError) -> None:
        if self._journal_alarm.due():
            log.warning("dead processes' click journals not read this time: %s", error.strerror)

    async def _ingest_dead(self, path: Path, fd: int) -> int:
        name = path.name
        offset = await self._store.journal_offset(name)
        size = os.fstat(fd).st_size
        added = lines = 0
        while offset < size:
            if self._stopping:  # its mark is stored: the next process goes on from there
                os.close(fd)
                log.info("left %s at byte %d of %d to the next process", path, offset, size)
                return added
            batch = read_batch(fd, offset, self._batch_size)
            if batch.end == offset:
                break  # a last line the dead process never finished
            clicks = await self._to_clicks(batch.entries)
            added += await self._store.add_clicks(clicks, JournalMark(name, batch.end))
            offset, lines = batch.end, lines + len(batch.entries)
            await asyncio.sleep(0)  # redirects go on between batches
        # The mark goes first: should we die before the file does, a replay from the start
        # adds nothing (the ids).
        await self._store.forget_journal(name)
        remove_taken(path, fd)
        log.info(
            "ingested %s, left by a process no longer alive: %d clicks, %d new", path, lines, added
        )
        return added

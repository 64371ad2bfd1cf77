"""Weekly digests sent exactly once: claim the (group, week) run in storage, write, send with
bounded retries, finish; APScheduler only says when to look.

Each process keeps its own schedule (APScheduler's memory knows nothing of other processes);
the claim in storage is what makes one digest per group and week, however many run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from bot.clock import Clock
from bot.config import DigestConfig
from bot.digest import DigestSchedule, DigestWriter
from bot.model import Group
from bot.storage import DigestSending, Groups

log = logging.getLogger(__name__)

Send = Callable[[], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


def repeat_every(
    scheduler: AsyncIOScheduler,
    job: Callable[[], Awaitable[None]],
    every: timedelta,
    job_id: str,
) -> None:
    """Run `job` every `every`: a run missed while the loop was busy is coalesced into one,
    and a slow run is never overlapped by the next."""
    scheduler.add_job(
        job,
        IntervalTrigger(seconds=every.total_seconds(), timezone=UTC),
        id=job_id,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
    )


class NoChannel(Exception):
    """The group's channel went away while sending (a WeCom robot deleted): nothing to retry."""


class DigestChannel(Protocol):
    """How digests reach one platform's groups (implemented in adapters/)."""

    async def reaches(self, group: Group) -> bool:
        """False when the group has no way to receive a digest (an unbound WeCom group)."""
        ...

    def sends(self, group: Group, text: str, chart: bytes | None) -> Sequence[Send]:
        """The messages of one digest, in order; each is retried on its own."""
        ...


class RunOutcome(StrEnum):
    SENT = "sent"
    NOT_DUE = "not_due"  # no fire time within the grace window (or, for a sweep, no failure)
    NO_CHANNEL = "no_channel"  # nothing can reach the group: not claimed, nothing recorded
    TAKEN = "taken"  # sent already, or another process is sending it
    FAILED = "failed"  # marked failed: a later sweep (or start) may try again


def process_owner() -> str:
    """Who claims digest runs: unique per process start, readable in the digest_runs table."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class DigestService:
    """claim -> write -> send (each message retried with backoff) -> finish, per group and week.

    `run_due(now)` is what the start-up catch-up, each cron trigger and the retry sweep call:
    it is idempotent, so calling it twice, or from two processes, sends nothing twice.
    """

    def __init__(
        self,
        store: DigestSending,
        writer: DigestWriter,
        channels: Mapping[str, DigestChannel],
        clock: Clock,
        config: DigestConfig,
        *,
        owner: str | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._store = store
        self._clock = clock
        self._writer = writer
        self._channels = channels
        self._grace = timedelta(hours=config.grace_hours)
        self._lease = timedelta(minutes=config.lease_minutes)
        self._attempts = config.retry_attempts
        self._backoff = config.retry_backoff_seconds
        self.owner = owner or process_owner()
        self._sleep = sleep
        # Failed runs per (group, week) in this process: the sweep gives up after as many
        # runs as a run has attempts, so a send that can never work stops within the hour.
        # The store enforces the same bound across processes (claim_digest's max_runs); this
        # only spares asking it.
        self._failed_runs: Counter[tuple[int, datetime]] = Counter()
        # Digests this process sent and runs that failed, for the operator's /metrics.
        self.sent = 0
        self.failed = 0

    def schedulable(self, group: Group) -> bool:
        return group.settings.digest_enabled and group.platform in self._channels

    async def run_due(self, now: datetime, *, retry_only: bool = False) -> dict[int, RunOutcome]:
        """Send every digest due at `now` (fired within the grace window and not yet sent).

        With `retry_only`, only runs that were tried and failed or whose sender vanished.
        """
        outcomes: dict[int, RunOutcome] = {}
        for group in await self._store.find_groups(None):
            if not self.schedulable(group):
                continue
            try:
                outcomes[group.id] = await self.run_group(group, now, retry_only=retry_only)
            except Exception:
                # One group's broken store row or channel must not stop the others' digests.
                log.exception(
                    "digest run failed platform=%s chat=%s", group.platform, group.chat_id
                )
        return outcomes

    async def run_group(
        self, group: Group, now: datetime, *, retry_only: bool = False
    ) -> RunOutcome:
        channel = self._channels.get(group.platform)
        if channel is None or not group.settings.digest_enabled:
            return RunOutcome.NOT_DUE
        schedule = DigestSchedule.of(group)
        fire = schedule.last_fire(now)
        if now - fire > self._grace:
            return RunOutcome.NOT_DUE
        week = schedule.week_before(fire).start
        if retry_only and (
            self._failed_runs[group.id, week] >= self._attempts
            or await self._store.digest_status(group.id, week) not in ("failed", "sending")
        ):
            return RunOutcome.NOT_DUE
        if not await channel.reaches(group):
            log.info(
                "digest not sent, no channel platform=%s chat=%s", group.platform, group.chat_id
            )
            return RunOutcome.NO_CHANNEL
        if not await self._store.claim_digest(
            group.id, week, self.owner, now, self._lease, max_runs=self._attempts
        ):
            return RunOutcome.TAKEN
        error = await self._send(group, week, fire, channel)
        await self._store.finish_digest(group.id, week, self.owner, self._clock(), error)
        if error is not None:
            self._failed_runs[group.id, week] += 1
            self.failed += 1
            return RunOutcome.FAILED
        self.sent += 1
        log.info(
            "digest sent platform=%s chat=%s week=%s",
            group.platform,
            group.chat_id,
            week.isoformat(),
        )
        return RunOutcome.SENT

    async def _send(
        self, group: Group, week: datetime, fire: datetime, channel: DigestChannel
    ) -> str | None:
        """Write and send one digest; None when sent, else what failed (for digest_runs).

        Messages an earlier run delivered are skipped: when the chart keeps failing, the
        group does not get the text again with every retry."""
        try:
            written = await self._writer.week_before(group, fire)
            sends = channel.sends(written.digest.group, written.text, written.chart)
            done = await self._store.digest_parts_sent(group.id, week)
            for index, send in enumerate(sends):
                if index < done:
                    continue
                await self._with_retries(send, group)
                await self._store.digest_part_sent(group.id, week, self.owner, index + 1)
        except NoChannel:
            log.warning(
                "digest channel went away platform=%s chat=%s", group.platform, group.chat_id
            )
            return "no channel"
        except Exception as e:
            log.exception("digest not sent platform=%s chat=%s", group.platform, group.chat_id)
            return type(e).__name__
        return None

    async def _with_retries(self, send: Send, group: Group) -> None:
        """One message, tried up to retry_attempts times, the backoff doubling each time; a
        vanished channel (NoChannel) is final."""

        def log_retry(state: RetryCallState) -> None:
            log.warning(
                "digest send failed platform=%s chat=%s attempt=%d: %s; retrying in %ds",
                group.platform,
                group.chat_id,
                state.attempt_number,
                _error_name(state),
                state.upcoming_sleep,
            )

        # Built per call: a tenacity controller keeps its state per thread, not per call.
        retrying = AsyncRetrying(
            retry=retry_if_exception(_worth_retrying),
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff),
            sleep=self._sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await send()


def _worth_retrying(error: BaseException) -> bool:
    # Only errors: a cancellation stops the send at once, a vanished channel is final.
    return isinstance(error, Exception) and not isinstance(error, NoChannel)


def _error_name(state: RetryCallState) -> str:
    error = state.outcome.exception() if state.outcome is not None else None
    return type(error).__name__


class DigestScheduler:
    """One APScheduler cron job per group (in its timezone), a retry sweep, a catch-up on start.

    Jobs only call the service; whether a digest goes out is the service's (and the store's)
    decision, so a misfired, doubled or coalesced job is harmless.
    """

    def __init__(
        self,
        service: DigestService,
        store: Groups,
        clock: Clock,
        config: DigestConfig,
        *,
        scheduler: AsyncIOScheduler | None = None,
    ) -> None:
        self._service = service
        self._store = store
        self._clock = clock
        self._grace_seconds = config.grace_hours * 3600
        self._sweep_every = timedelta(minutes=config.lease_minutes)
        self.scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        self._schedules: dict[int, DigestSchedule] = {}
        self._catch_up: asyncio.Task[Any] | None = None

    @property
    def service(self) -> DigestService:
        return self._service

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    async def start(self) -> None:
        """Schedule every group, then send what was missed while no process ran (in the
        background: adapters need not wait for it)."""
        self.scheduler.start()
        await self.schedule_all()
        repeat_every(self.scheduler, self._sweep, self._sweep_every, "digest:sweep")
        self._catch_up = asyncio.create_task(self.catch_up())

    async def catch_up(self) -> None:
        try:
            outcomes = await self._service.run_due(self._clock())
        except Exception:
            log.exception("digest catch-up failed")
            return
        sent = sum(1 for outcome in outcomes.values() if outcome == RunOutcome.SENT)
        if sent:
            log.info("digest catch-up sent %d missed digest(s)", sent)

    async def caught_up(self) -> None:
        """Wait until the start-up catch-up has run."""
        if self._catch_up is not None:
            await asyncio.shield(self._catch_up)

    async def stop(self) -> None:
        if self._catch_up is not None:
            self._catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catch_up
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def job_id(self, group_id: int) -> str:
        return f"digest:{group_id}"

    async def schedule_all(self) -> None:
        """Bring the jobs in line with the groups: new groups get one, disabled lose theirs."""
        groups = await self._store.find_groups(None)
        wanted = {g.id for g in groups if self._service.schedulable(g)}
        for group in groups:
            self.schedule(group)
        for group_id in set(self._schedules) - wanted:
            self.unschedule(group_id)

    def schedule(self, group: Group) -> None:
        if not self._service.schedulable(group):
            self.unschedule(group.id)
            return
        schedule = DigestSchedule.of(group)
        if self._schedules.get(group.id) == schedule:
            return
        self.scheduler.add_job(
            self._fire,
            schedule.trigger(),
            args=[group.id],
            id=self.job_id(group.id),
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            # A loop that was busy (or a suspended laptop) still fires within the grace window.
            misfire_grace_time=self._grace_seconds,
        )
        self._schedules[group.id] = schedule
        log.debug(
            "digest scheduled platform=%s chat=%s next=%s",
            group.platform,
            group.chat_id,
            schedule.next_fire(self._clock()).isoformat(),
        )

    def unschedule(self, group_id: int) -> None:
        if self._schedules.pop(group_id, None) is not None:
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(self.job_id(group_id))

    async def reschedule(self, group: Group) -> None:
        """An admin changed the group's digest day, time, timezone or switch."""
        if self.running:
            self.schedule(group)

    async def _fire(self, group_id: int) -> None:
        group = await self._store.get_group(group_id)
        if group is None:
            return
        try:
            await self._service.run_group(group, self._clock())
        except Exception:
            log.exception("digest job failed platform=%s chat=%s", group.platform, group.chat_id)

    async def _sweep(self) -> None:
        """Pick up new groups, and retry runs that failed or whose sender died."""
        try:
            await self.schedule_all()
            await self._service.run_due(self._clock(), retry_only=True)
        except Exception:
            log.exception("digest sweep failed")

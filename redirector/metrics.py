"""What an operator watches: `/metrics` in Prometheus' text format and `/healthz`, both answered
only to the addresses `[server] metrics_from` allows (others get the 404 of an unknown path).

Hot paths count in plain ints, read here: a prometheus-client `Counter.inc()` per redirect cost
0.68 µs (1.98 µs in multiprocess mode) against 0.09 µs for `+= 1`, on a path that costs 30-60 µs
in all. `Metrics.sync` moves what they counted into prometheus-client's metrics at each scrape.
Processes sharing a port (SO_REUSEPORT) each answer some scrapes: with PROMETHEUS_MULTIPROC_DIR
set (`suo redirector --workers N` sets one up) every process syncs into that directory each
second and any of them serves the sum, prometheus-client's multiprocess mode as gunicorn uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from aiohttp import hdrs, web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from bot.storage import Operations
from redirector.clicks import ClickRecorder, ClickStats
from redirector.client_ip import ClientAddress

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# How often each process copies its counts into the shared directory in multiprocess mode; a
# scrape of another process sees them at most this late.
SYNC_SECONDS = 1.0
# From a few ms (a small PNG) to the seconds a huge photo takes, and the decode slots' wait.
_DECODE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Reading = Callable[[], int]


def click_counts(recorder: ClickRecorder) -> ClickStats:
    """The recorder's counters: the one place that knows where they come from."""
    return recorder.stats()


class _Followed(NamedTuple):
    counter: Counter
    read: Reading
    last: list[int]  # the reading already added to `counter`


class Metrics:
    """One process's metrics in a registry of its own (tests and processes never collide)."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        counter = self._counter
        self.redirects = counter("suo_redirects", "Redirects answered (302), GET and HEAD.")
        self.not_found = counter("suo_not_found", "Requests for short links that do not exist.")
        self.clicks_journalled = counter(
            "suo_clicks_journalled", "Clicks appended to this process's journal before the 302."
        )
        self.clicks_written = counter(
            "suo_clicks_written", "Clicks this process's recording stored in the database."
        )
        self.clicks_replayed = counter(
            "suo_clicks_replayed", "Clicks stored from journals that dead processes left."
        )
        self.clicks_lost = counter(
            "suo_clicks_lost", "Clicks neither the journal nor memory could keep (logged)."
        )
        self.digests_sent = counter("suo_digests_sent", "Weekly digests sent to a group.")
        self.digests_failed = counter(
            "suo_digests_failed", "Weekly digest runs that failed (retried later)."
        )
        self.clicks_queued = Gauge(
            "suo_clicks_queued",
            "Clicks recorded and not yet in the database (journal backlog and held).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.clicks_held = Gauge(
            "suo_clicks_held",
            "Clicks only in memory because the journal could not take them.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.decode_seconds = Histogram(
            "suo_qr_decode_seconds",
            "Time to decode the QR codes in one image, waiting for a decode slot included.",
            registry=self.registry,
            buckets=_DECODE_BUCKETS,
        )
        self._followed: list[_Followed] = []
        self._gauges: list[tuple[Gauge, Reading]] = []

    @classmethod
    def from_environment(cls) -> Metrics:
        """Multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (prometheus-client reads it
        when it is imported, so it must be set before the process starts)."""
        return cls(os.environ.get(MULTIPROC_ENV) or None)

    def _counter(self, name: str, documentation: str) -> Counter:
        return Counter(name, documentation, registry=self.registry)

    def follow(self, counter: Counter, read: Reading) -> None:
        """Add to `counter`, at each sync, what `read()` grew by since the last one."""
        self._followed.append(_Followed(counter, read, [0]))

    def follow_clicks(self, recorder: ClickRecorder) -> None:
        self._gauges.append((self.clicks_queued, lambda: click_counts(recorder).queued))
        self._gauges.append((self.clicks_held, lambda: click_counts(recorder).held))
        self.follow(self.clicks_journalled, lambda: click_counts(recorder).journalled)
        self.follow(self.clicks_written, lambda: click_counts(recorder).written)
        self.follow(self.clicks_replayed, lambda: click_counts(recorder).replayed)
        self.follow(self.clicks_lost, lambda: click_counts(recorder).lost)

    def observe_decode(self, seconds: float) -> None:
        """Called from decode threads (a Histogram is thread-safe)."""
        self.decode_seconds.observe(seconds)

    def sync(self) -> None:
        for counter, read, last in self._followed:
            value = read()
            if value > last[0]:
                counter.inc(value - last[0])
            last[0] = value
        for gauge, read_gauge in self._gauges:
            gauge.set(read_gauge())

    def exposition(self) -> bytes:
        """This process's metrics, or in multiprocess mode every process's, summed (as of
        the last `sync`)."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        # prometheus-client leaves these two untyped.
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=self.multiprocess_dir
        )
        return generate_latest(registry)

    async def keep_synced(self) -> None:
        """Multiprocess mode: sync every second until cancelled, then once more and say this
        process is gone (its queued-clicks gauge leaves the sum)."""
        try:
            while True:
                await asyncio.sleep(SYNC_SECONDS)
                self.sync()
        finally:
            self.sync()
            pid = os.getpid()
            multiprocess.mark_process_dead(pid, self.multiprocess_dir)  # type: ignore[no-untyped-call]


class Health:
    """The store answers a trivial read within `timeout`, and clicks leave the queue: some were
    written (or replayed from a dead process's journal) within `stall_seconds`, or none wait."""

    def __init__(
        self,
        store: Operations,
        recorder: ClickRecorder | None,
        *,
        timeout: float = 2.0,
        stall_seconds: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._recorder = recorder
        self._timeout = timeout
        self._stall = stall_seconds
        self._monotonic = monotonic
        self._moved: tuple[int, float] | None = None  # (clicks out of the queue, seen at)

    async def problem(self) -> str | None:
        """What is wrong, in a few words for an operator; None when healthy."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._store.schema_versions()  # a read: never a write, on either engine
        except TimeoutError:
            return "database too slow"
        except Exception as e:
            log.warning("health check: database unavailable (%s)", type(e).__name__)
            return "database unavailable"
        if self._recorder is not None and not self._draining(click_counts(self._recorder)):
            return "clicks not being written"
        return None

    def _draining(self, counts: ClickStats) -> bool:
        now = self._monotonic()
        moved = counts.written + counts.replayed
        if self._moved is None or self._moved[0] != moved:
            self._moved = (moved, now)
        return counts.queued == 0 or now - self._moved[1] < self._stall

    def queued(self) -> int:
        return click_counts(self._recorder).queued if self._recorder is not None else 0


class OperatorAccess:
    """Who may read /metrics and /healthz: a direct peer in `allowed`, or, through a trusted
    proxy, the reader it names. A request forwarded by a proxy we do not trust is refused: an
    nginx in front without `trusted_proxies` makes every reader look like 127.0.0.1."""

    def __init__(self, allowed: Iterable[str], client_address: ClientAddress) -> None:
        self._allowed = tuple(ipaddress.ip_network(a, strict=False) for a in allowed)
        self._client_address = client_address

    def allows(self, request: web.BaseRequest) -> bool:
        address = self._client_address.of(request)
        forwarded = hdrs.X_FORWARDED_FOR in request.headers or hdrs.FORWARDED in request.headers
        if forwarded and address == request.remote:
            return False
        with contextlib.suppress(ValueError):
            ip = ipaddress.ip_address(address)
            return any(ip in network for network in self._allowed)
        return False


def add_operator_routes(
    app: web.Application, metrics: Metrics, health: Health, access: OperatorAccess
) -> None:
    """`GET /metrics` and `GET /healthz` (200 or 503 with the reason, as JSON)."""

    async def metrics_page(request: web.Request) -> web.StreamResponse:
        if not access.allows(request):
            raise web.HTTPNotFound()
        metrics.sync()  # on the loop: the counters it reads change there
        body = await asyncio.to_thread(metrics.exposition)  # reads files in multiprocess mode
        response = web.Response(body=body, headers={"Cache-Control": "no-store"})
        response.headers[hdrs.CONTENT_TYPE] = CONTENT_TYPE_LATEST
        return response

    async def healthz(request: web.Request) -> web.StreamResponse:
        if not access.allows(request):
            raise web.HTTPNotFound()
        problem = await health.problem()
        if problem is not None:
            return web.json_response({"status": "unavailable", "reason": problem}, status=503)
        return web.json_response({"status": "ok", "clicks_queued": health.queued()})

    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", healthz)

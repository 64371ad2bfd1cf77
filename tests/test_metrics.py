"""What an operator watches, over real HTTP on 127.0.0.1: /healthz going 503 when the database
goes, /metrics (parsed as Prometheus parses it) counting redirects, 404s, clicks, decodes and
digests, both refused to addresses not allowed, and summed over `--workers` processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Config
from bot.qr import render_qr_png
from bot.scheduler import RunOutcome
from redirector.clicks import ClickRecorder
from redirector.metrics import MULTIPROC_ENV, Health, Metrics
from suo.app import Suo
from tests.conftest import (
    BOTH_ENGINES,
    FakeClock,
    free_port,
    group_message,
    image_of,
    process_config,
    serving,
)
from tests.test_cli import BROWSER_UA
from tests.test_digest import FIRE, seed_week
from tests.test_processes import READY_TIMEOUT, Redirectors, shorten, statuses
from tests.test_redirector import FailingStore

ENGINES = BOTH_ENGINES


def parse(text: str) -> dict[str, float]:
    """Every sample as Prometheus reads it: `name` or `name{label="value",...}` -> value."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


@pytest.fixture
async def client(suo: Suo) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(suo.redirector_app(), host="127.0.0.1", port=0)) as c:
        yield c


async def scrape(client: TestClient[object, object]) -> dict[str, float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    return parse(await resp.text())


async def test_healthz_is_ok_then_503_with_the_reason_when_the_database_is_gone(
    suo: Suo, client: TestClient[object, object]
) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "clicks_queued": 0}
    await suo.store.close()
    resp = await client.get("/healthz")
    assert resp.status == 503
    assert await resp.json() == {"status": "unavailable", "reason": "database unavailable"}


@pytest.mark.sqlite_only("the recorder's queue, not the engine, is under test")
async def test_healthz_says_so_when_queued_clicks_stop_being_written(suo: Suo) -> None:
    now = [100.0]
    health = Health(suo.store, suo.recorder, stall_seconds=10, monotonic=lambda: now[0])
    assert await health.problem() is None
    # The recorder is not started here: nothing flushes what arrives, as when a write hangs.
    suo.recorder.record("abc1234", None, BROWSER_UA, "198.51.100.7", "")
    assert await health.problem() is None  # queued just now
    now[0] += 9.5
    assert await health.problem() is None
    now[0] += 1
    assert await health.problem() == "clicks not being written"
    await suo.recorder.flush()
    assert await health.problem() is None


class HangingStore:
    """A database that accepted the connection and never answers."""

    async def schema_versions(self) -> tuple[int, int]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.mark.sqlite_only("the store is a stand-in")
async def test_healthz_says_the_database_is_too_slow_when_it_does_not_answer_in_time(
    suo: Suo,
) -> None:
    health = Health(HangingStore(), None, timeout=0.05)  # type: ignore[arg-type]
    assert await health.problem() == "database too slow"


@pytest.mark.sqlite_only("the outage is a stand-in store")
async def test_metrics_show_clicks_journalled_while_the_database_is_down_then_written(
    suo: Suo, tmp_path: Path
) -> None:
    flaky = FailingStore(suo.store)
    recorder = ClickRecorder(flaky, clock=suo.clock, journal=tmp_path / "down.jsonl")
    metrics = Metrics()
    metrics.follow_clicks(recorder)
    for _ in range(7):
        recorder.record("abc1234", None, BROWSER_UA, "198.51.100.7", "")
    await recorder.flush()  # refused: they wait in the journal
    metrics.sync()
    seen = parse(metrics.exposition().decode())
    assert (seen["suo_clicks_journalled_total"], seen["suo_clicks_written_total"]) == (7, 0)
    assert (seen["suo_clicks_queued"], seen["suo_clicks_held"]) == (7, 0)
    flaky.down = False
    await recorder.flush()
    metrics.sync()
    seen = parse(metrics.exposition().decode())
    assert (seen["suo_clicks_written_total"], seen["suo_clicks_queued"]) == (7, 0)
    assert seen["suo_clicks_lost_total"] == 0
    await recorder.stop()


async def test_metrics_count_redirects_404s_and_written_clicks(
    suo: Suo, client: TestClient[object, object]
) -> None:
    group = await suo.store.upsert_group("console", "g1", "g1")
    code = (await suo.shortener.shorten_in_group(group, None, "https://example.com/m")).link.code
    before = await scrape(client)
    assert before["suo_redirects_total"] == before["suo_not_found_total"] == 0
    for _ in range(3):
        resp = await client.get(
            f"/{code}", headers={"User-Agent": BROWSER_UA}, allow_redirects=False
        )
        assert resp.status == 302
    assert (await client.head(f"/{code}", allow_redirects=False)).status == 302
    for unknown in ("Nope123", "Nope456"):
        assert (await client.get(f"/{unknown}")).status == 404
    await suo.recorder.flush()
    after = await scrape(client)
    assert after["suo_redirects_total"] == 4  # HEAD is answered (never counted as a click)
    assert after["suo_not_found_total"] == 2
    assert after["suo_clicks_written_total"] == 3
    assert after["suo_clicks_queued"] == after["suo_clicks_lost_total"] == 0


async def test_metrics_time_each_decode_and_count_digests_sent(
    suo: Suo, clock: FakeClock, client: TestClient[object, object]
) -> None:
    before = await scrape(client)
    assert before["suo_qr_decode_seconds_count"] == before["suo_digests_sent_total"] == 0
    await seed_week(suo.store)
    clock.now = FIRE + timedelta(minutes=5)
    assert suo.digests is not None
    assert list((await suo.digests.service.run_due(clock())).values()) == [RunOutcome.SENT]
    photo = render_qr_png("https://example.com/poster")
    (reply,) = await suo.core.handle(group_message(images=(image_of(photo),)))
    assert "https://example.com/poster" in reply.text
    seen = await scrape(client)
    assert seen["suo_qr_decode_seconds_count"] == 1
    assert 0 < seen["suo_qr_decode_seconds_sum"] < 60
    assert seen["suo_digests_sent_total"] == 1
    assert seen["suo_digests_failed_total"] == 0


@pytest.mark.sqlite_only("who may read them does not depend on the engine")
async def test_metrics_and_health_are_a_404_to_addresses_not_allowed(
    config: Config, clock: FakeClock
) -> None:
    for allowed, forwarded, expected in [
        (("127.0.0.1",), None, 200),
        (("10.0.0.0/8",), None, 404),  # Prometheus lives elsewhere
        # Through a proxy we do not trust (nginx without trusted_proxies): a public reader.
        (("127.0.0.1",), "203.0.113.9", 404),
    ]:
        server = replace(config.server, metrics_from=allowed)
        suo = await Suo.open(replace(config, server=server), clock=clock)
        try:
            async with serving(suo.redirector_app()) as base, aiohttp.ClientSession() as http:
                headers = {"X-Forwarded-For": forwarded} if forwarded else {}
                for path in ("/metrics", "/healthz"):
                    async with http.get(base + path, headers=headers) as resp:
                        assert resp.status == expected, (allowed, forwarded, path)
                        if expected == 404:
                            assert "suo_" not in await resp.text()
        finally:
            await suo.shutdown()


@pytest.mark.sqlite_only("the processes' shared metrics do not depend on the engine")
@pytest.mark.parametrize("started", ["by --workers 2", "apart, sharing a directory"])
async def test_processes_on_one_port_each_serve_the_sum_of_all_their_metrics(
    tmp_path: Path, storage_url: str, started: str
) -> None:
    """Each scrape reaches one of the two processes (SO_REUSEPORT); every one of them must
    show all redirects, or Prometheus would see counters jump up and down."""
    running = Redirectors(process_config(tmp_path, free_port()), storage_url)
    shared = tmp_path / "metrics"
    try:
        short_url = await shorten(running, "https://example.com/processes-metrics")
        if started == "by --workers 2":
            await running.start("redirector", "--workers", "2")  # sets up its own directory
        else:
            shared.mkdir()
            running.env[MULTIPROC_ENV] = str(shared)
            for _ in range(2):
                await running.start("redirector")
        await running.listening(2)
        clicks = 40
        assert await statuses(short_url, clicks) == {302}
        base = short_url.rsplit("/", 1)[0]
        totals = await scrapes_until(f"{base}/metrics", "suo_clicks_written_total", clicks)
        assert {t["suo_redirects_total"] for t in totals} == {clicks}
        assert {t["suo_clicks_queued"] for t in totals} == {0}
        assert set(await running.stop()) == {0}
    finally:
        await running.kill()
    if started != "by --workers 2":
        # Stopped cleanly, each process took its queued-clicks gauge out of the shared sum;
        # their counters stay, so totals never go down across restarts.
        assert len(list(shared.glob("counter_*.db"))) == 2
        assert not list(shared.glob("gauge_live*"))


async def scrapes_until(url: str, name: str, value: float) -> list[dict[str, float]]:
    """Scrape `url` on new connections until one shows `name` at `value`, then 20 more (each
    may reach either process); those 20."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one() -> dict[str, float]:
            async with http.get(url) as resp:
                assert resp.status == 200
                return parse(await resp.text())

        async with asyncio.timeout(READY_TIMEOUT):
            for _ in range(int(READY_TIMEOUT * 10)):
                if (await one()).get(name) == value:
                    return [await one() for _ in range(20)]
                await asyncio.sleep(0.1)
        raise AssertionError(f"no scrape showed {name} = {value}")

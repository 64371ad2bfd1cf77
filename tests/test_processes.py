"""Several processes on one port and one database: real `suo redirector` processes sharing a
port (started apart, or by `--workers`), click journals per process, one digest from two
schedulers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.config import Config
from bot.model import ClickClass
from bot.storage import open_store
from redirector.clicks import ClickRecorder
from redirector.journal import Entry, OwnJournal, entry_line, journal_family
from suo.app import Part, Suo, reuse_port_supported
from tests.conftest import BOTH_ENGINES, FakeClock, free_port, process_config, query
from tests.test_cli import BROWSER_UA
from tests.test_digest import FIRE, seed_week

ENGINES = BOTH_ENGINES
CLICKS = 120
READY_TIMEOUT = 60.0


class Redirectors:
    """`suo` processes of one test, each with its log file; stopped with SIGTERM at the end."""

    def __init__(self, cfg: Path, storage_url: str) -> None:
        self.cfg = cfg
        self.env = {**os.environ, "SUO_STORAGE_URL": storage_url}
        self.procs: list[asyncio.subprocess.Process] = []
        self.logs: list[Path] = []

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        log = self.cfg.parent / f"process-{len(self.procs)}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "suo.cli", "--config", str(self.cfg), *args),
                stdout=out,
                stderr=out,
                env=self.env,
            )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    async def listening(self, count: int) -> None:
        """Until `count` processes said they listen (or one of them died)."""
        async with asyncio.timeout(READY_TIMEOUT):
            while self.text().count("port shared") < count:
                assert all(p.returncode is None for p in self.procs), self.text()
                await asyncio.sleep(0.05)

    def text(self) -> str:
        return "".join(log.read_text(encoding="utf-8", errors="replace") for log in self.logs)

    async def stop(self) -> list[int]:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(READY_TIMEOUT):
            return [await proc.wait() for proc in self.procs]

    async def kill(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.fixture
async def redirectors(tmp_path: Path, storage_url: str) -> AsyncIterator[Redirectors]:
    running = Redirectors(process_config(tmp_path, free_port()), storage_url)
    try:
        yield running
    finally:
        await running.kill()


async def shorten(running: Redirectors, url: str) -> str:
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "suo.cli", "--config", str(running.cfg), "shorten", url, "--json"],
        capture_output=True,
        text=True,
        env=running.env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["short_url"])


async def click(short_url: str, times: int) -> None:
    assert await statuses(short_url, times) == {302}


async def two_serving(running: Redirectors, url: str) -> str:
    """`url`'s short link, with two `suo redirector` processes serving the port."""
    short_url = await shorten(running, url)
    for _ in range(2):
        await running.start("redirector")
    await running.listening(2)
    return short_url


async def clicks_by_writer(storage_url: str) -> tuple[int, int]:
    """All stored clicks, and how many processes wrote them (a click id is writer << 32 | n)."""
    rows = await query(
        storage_url,
        "SELECT COUNT(*), COUNT(DISTINCT CAST(id AS BIGINT) / 4294967296) FROM clicks",
    )
    return int(rows[0][0]), int(rows[0][1])


async def test_two_redirectors_started_apart_share_the_port_and_count_each_click_once(
    redirectors: Redirectors, storage_url: str
) -> None:
    short_url = await two_serving(redirectors, "https://example.com/两个进程")
    await click(short_url, CLICKS)
    assert await redirectors.stop() == [0, 0]
    # Both served (each wrote clicks under its own writer number); none lost or doubled.
    assert await clicks_by_writer(storage_url) == (CLICKS, 2)


async def test_a_link_removed_through_the_database_is_refused_by_both_within_a_second(
    redirectors: Redirectors, storage_url: str
) -> None:
    short_url = await two_serving(redirectors, "https://example.com/removed-everywhere")
    await click(short_url, 20)  # both processes now hold the link in their caches
    code = short_url.rsplit("/", 1)[1]
    store = await open_store(storage_url)  # as the bot process's /delete would
    try:
        link = await store.get_link(code)
        assert link is not None and await store.disable_link(code, link.group_id)
    finally:
        await store.close()
    await asyncio.sleep(1.0 + 0.5)  # the promise (a second) and a poll's margin
    assert await statuses(short_url, 40) == {410}
    assert await redirectors.stop() == [0, 0]
    assert (await clicks_by_writer(storage_url))[1] == 2  # both had served it


async def statuses(short_url: str, times: int) -> set[int]:
    """The statuses of `times` requests, each on a new connection (spread over processes)."""
    connector = aiohttp.TCPConnector(force_close=True)
    seen = set()
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(times):
            headers = {"User-Agent": BROWSER_UA}
            async with http.get(short_url, headers=headers, allow_redirects=False) as resp:
                seen.add(resp.status)
    return seen


@pytest.mark.sqlite_only("the parent process is engine-blind; the test above covers both")
async def test_workers_share_the_port_and_stop_together_on_sigterm(
    redirectors: Redirectors, storage_url: str
) -> None:
    short_url = await shorten(redirectors, "https://example.com/workers")
    await redirectors.start("redirector", "--workers", "2")
    await redirectors.listening(2)
    await click(short_url, CLICKS)
    assert await redirectors.stop() == [0]
    assert await clicks_by_writer(storage_url) == (CLICKS, 2)


def worker_pids(log: str) -> list[int]:
    line = next(line for line in log.splitlines() if "started 2 redirector workers" in line)
    return [int(pid) for pid in line.split("[", 1)[1].rstrip("]").split(",")]


@pytest.mark.sqlite_only("the parent process is engine-blind")
async def test_a_worker_that_dies_stops_the_others_and_the_parent_exits_1(
    redirectors: Redirectors,
) -> None:
    parent = await redirectors.start("redirector", "--workers", "2")
    await redirectors.listening(2)
    first, second = worker_pids(redirectors.text())
    os.kill(first, signal.SIGKILL)
    async with asyncio.timeout(READY_TIMEOUT):
        assert await parent.wait() == 1
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)  # stopped (and reaped) before the parent exited
    assert "exited with -9 unasked" in redirectors.text()


@pytest.mark.sqlite_only("the parent process is engine-blind")
async def test_workers_stop_when_their_parent_is_killed(redirectors: Redirectors) -> None:
    parent = await redirectors.start("redirector", "--workers", "2")
    await redirectors.listening(2)
    workers = worker_pids(redirectors.text())
    parent.kill()  # kill -9: no chance to forward anything
    await parent.wait()
    for _ in range(int(READY_TIMEOUT / 0.05)):  # bounded: READY_TIMEOUT at most
        if not any(alive(pid) for pid in workers):
            break
        await asyncio.sleep(0.05)
    assert not [pid for pid in workers if alive(pid)], "workers outlived their parent"


def alive(pid: int) -> bool:
    """Whether `pid` still runs (an orphan is reaped by init, a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_redirector_refuses_a_worker_count_below_one(tmp_path: Path) -> None:
    cfg = process_config(tmp_path, free_port())
    result = subprocess.run(
        [sys.executable, "-m", "suo.cli", "--config", str(cfg), "redirector", "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "--workers" in result.stderr


def journalled(path: Path, ids: Sequence[int]) -> None:
    """A journal as a process that died leaves it."""
    lines = [Entry(i, "spill01", 1_700_000_000_000, "human", "ios", "", "v", "") for i in ids]
    path.write_bytes(b"".join(map(entry_line, lines)))


def spilled(path: Path, ids: Sequence[int]) -> None:
    """A spill file as versions before the journal left it: stored clicks as JSON objects."""
    click = {"code": "spill01", "ts_ms": 1_700_000_000_000, "class": "human", "platform": "ios"}
    lines = [json.dumps({"id": i, **click, "referrer_host": "", "visitor": "v"}) for i in ids]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_each_process_journals_to_its_own_file_beside_the_configured_one(tmp_path: Path) -> None:
    configured = tmp_path / "clicks.jsonl"
    journal = OwnJournal(configured, 4242)
    journal.open()
    assert journal.path is not None and journal.path.parent == tmp_path
    assert journal.name.startswith("clicks.4242-") and journal.name.endswith(".jsonl")
    older = [configured, tmp_path / "clicks.17.jsonl"]  # spill files of earlier versions
    for path in (*older, tmp_path / "clicks.x.jsonl", tmp_path / "clicks.17-zz.jsonl"):
        path.touch()
    assert journal_family(configured) == sorted([*older, journal.path])
    journal.close(remove=True)
    assert journal_family(configured) == sorted(older)


async def test_dead_processes_journals_are_stored_and_removed_and_a_live_ones_left(
    config: Config, clock: FakeClock, tmp_path: Path
) -> None:
    store = await open_store(config.storage.url)
    try:
        group = await store.upsert_group("console", "g", "g", "en")
        sharer = await store.upsert_user("console", "u", "u")
        await store.create_link("spill01", "https://example.com/", group.id, sharer, clock())
        configured = tmp_path / "clicks.jsonl"
        live = ClickRecorder(store, clock=clock, journal=configured)
        for _ in range(2):  # its journal, opened and locked by the first click
            live.record("spill01", (ClickClass.HUMAN, "ios"), BROWSER_UA, "10.0.0.1", "")
        journalled(tmp_path / "clicks.12-ab.jsonl", [3, 4, 5])  # a process that died
        spilled(configured, [6])  # left by a version before per-process files
        spilled(tmp_path / "clicks.13.jsonl", [7])  # and by one before journals
        recorder = ClickRecorder(store, clock=clock, journal=configured)
        assert await recorder.sweep_dead() == 5
        assert journal_family(configured) == [live._journal.path]
        live._journal.close(remove=False)  # as a kill -9 does: the lock goes, the file stays
        assert await recorder.sweep_dead() == 2
        assert await recorder.sweep_dead() == 0
        assert journal_family(configured) == []
        assert (await store.group_stats(group.id)).human_clicks == 7
        assert recorder.stats().replayed == 7
    finally:
        await store.close()


async def test_two_schedulers_on_one_database_send_one_digest(
    config: Config, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two applications with the SCHEDULER part (two `suo bot` processes) start on one
    database when a digest is due: the group gets it once."""
    store = await open_store(config.storage.url)
    try:
        await seed_week(store)
    finally:
        await store.close()
    clock.now = FIRE + timedelta(seconds=2)
    processes = [Suo(config, frozenset({Part.SCHEDULER}), clock=clock) for _ in range(2)]
    async with contextlib.AsyncExitStack() as running:
        for suo in processes:
            await running.enter_async_context(suo)
        for suo in processes:
            assert suo.digests is not None
            await suo.digests.caught_up()
    assert capsys.readouterr().out.count("[chart]") == 1


def test_without_so_reuseport_the_redirector_says_it_binds_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert not reuse_port_supported()
    assert "SO_REUSEPORT is not supported on darwin" in caplog.text

"""The click journal under faults: a dead journal resumes at its mark, a journal that cannot be
written keeps clicks in memory (bounded, said in the log), and real processes killed mid-load
(the database locked or not) lose no click a reader saw (benchmarks/faults.py, small).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.model import ClickClass
from bot.storage import JournalMark, Store, StoreUnavailable, open_store
from redirector.clicks import ClickRecorder
from redirector.journal import Entry, entry_line, journal_family
from tests.conftest import BOTH_ENGINES, FakeClock

ENGINES = BOTH_ENGINES
REPO = Path(__file__).resolve().parent.parent
WECHAT = (ClickClass.HUMAN, "wechat")


@pytest.fixture
async def store(storage_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await open_store(storage_url)
    try:
        group = await opened.upsert_group("console", "g", "g", "en")
        await opened.create_link("jrnl01", "https://example.com/", group.id, None, clock())
        yield opened
    finally:
        await opened.close()


async def human_clicks(store: Store) -> int:
    group = await store.upsert_group("console", "g", "g", "en")
    return (await store.group_stats(group.id)).human_clicks


def lines(ids: range) -> list[bytes]:
    return [
        entry_line(Entry(i, "jrnl01", 1_700_000_000_000 + i, "human", "ios", "", f"v{i}", ""))
        for i in ids
    ]


class DownStore:
    """A real store whose click writes fail, like a database that is gone."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def add_clicks(self, clicks: object, mark: object = None) -> int:
        raise StoreUnavailable("database is gone")


async def test_a_dead_journal_resumes_at_its_mark_and_is_removed(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    dead = tmp_path / "clicks.77-beef.jsonl"
    first, rest = lines(range(1, 3)), lines(range(3, 6))
    dead.write_bytes(b"".join(first + rest))
    # The dead process stored its first two clicks' batch elsewhere; its mark says so.
    await store.add_clicks([], JournalMark(dead.name, len(b"".join(first))))
    recorder = ClickRecorder(store, clock=clock, journal=tmp_path / "clicks.jsonl")
    assert await recorder.sweep_dead() == 3
    assert await human_clicks(store) == 3  # only what came after the mark
    assert not dead.exists() and await store.journal_offset(dead.name) == 0


async def test_a_big_dead_journal_is_taken_in_while_the_process_goes_on(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """A process that starts beside an outage's worth of a dead one's journal serves at once:
    start() leaves the journal to the recorder's task, which lets the loop run between
    batches (SQLite writes them on the loop: in one go they would stall every redirect)."""
    dead = tmp_path / "clicks.81-beef.jsonl"
    dead.write_bytes(b"".join(lines(range(1, 5001))))  # ten batches
    recorder = ClickRecorder(store, clock=clock, journal=tmp_path / "clicks.jsonl")
    await recorder.start()
    try:
        seen = [await human_clicks(store)]
        for _ in range(10_000):  # bounded: each turn is a query of the store
            if seen[-1] == 5000:
                break
            seen.append(await human_clicks(store))
    finally:
        await recorder.stop()
    assert seen[-1] == 5000 and not dead.exists()
    assert any(0 < count < 5000 for count in seen), f"only saw {sorted(set(seen))}"


async def test_a_process_stopped_while_taking_a_dead_journal_in_leaves_the_rest_to_the_next(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """A stop does not wait for an outage's worth of someone else's journal (systemd would
    kill -9 a process that takes long): the mark is stored batch by batch, so the next
    process goes on from there, and nothing is counted twice."""
    dead = tmp_path / "clicks.82-beef.jsonl"
    dead.write_bytes(b"".join(lines(range(1, 20_001))))
    first = ClickRecorder(store, clock=clock, journal=tmp_path / "clicks.jsonl")
    await first.start()
    await first.stop()  # before its task took more than a batch in
    assert dead.exists() and await human_clicks(store) < 20_000
    second = ClickRecorder(store, clock=clock, journal=tmp_path / "clicks.jsonl")
    await second.sweep_dead()
    assert await human_clicks(store) == 20_000 and not dead.exists()


@pytest.mark.sqlite_only("the file side of the sweep is engine-blind")
async def test_out_of_open_files_a_sweep_waits_for_the_next_one_in_a_line(
    store: Store,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "clicks.79-beef.jsonl").write_bytes(b"".join(lines(range(1, 4))))
    recorder = ClickRecorder(store, clock=clock, journal=tmp_path / "clicks.jsonl")
    real_open = os.open

    def no_files_left(*args: Any, **kwargs: Any) -> int:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    monkeypatch.setattr(os, "open", no_files_left)  # as idle connections hold every file
    with caplog.at_level(logging.WARNING, logger="redirector.clicks"):
        assert await recorder.sweep_dead() == 0
    [said] = caplog.records
    assert "Too many open files" in said.getMessage() and said.exc_info is None
    monkeypatch.setattr(os, "open", real_open)
    assert await recorder.sweep_dead() == 3  # the next sweep takes it in
    assert await human_clicks(store) == 3


async def test_a_torn_line_is_skipped_and_the_rest_stored(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    one, two, three = lines(range(1, 4))
    # A write the disk refused midway, then the next click on a line of its own.
    (tmp_path / "clicks.78-beef.jsonl").write_bytes(one + two[:20] + b"\n" + three + three[:9])
    recorder = ClickRecorder(store, clock=clock, journal=tmp_path / "clicks.jsonl")
    assert await recorder.sweep_dead() == 2
    assert journal_family(tmp_path / "clicks.jsonl") == []


async def test_an_unwritable_journal_keeps_clicks_in_memory_and_says_so(
    store: Store, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "not-a-directory").write_text("", encoding="utf-8")
    recorder = ClickRecorder(store, clock=clock, journal=tmp_path / "not-a-directory" / "c.jsonl")
    with caplog.at_level(logging.ERROR, logger="redirector.clicks"):
        for _ in range(30):
            recorder.record("jrnl01", WECHAT, "ua", "10.0.0.1", "")
    [said] = [r.getMessage() for r in caplog.records]  # once per interval, not per click
    assert "cannot be written" in said and "not-a-directory" in said
    assert recorder.stats()[:3] == (0, 30, 30)  # journalled, held, queued
    await recorder.flush()
    assert recorder.stats()[:4] == (0, 0, 0, 30)
    assert await human_clicks(store) == 30


async def test_a_full_disk_then_space_again_loses_nothing(
    store: Store, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = ClickRecorder(store, clock=clock, journal=tmp_path / "clicks.jsonl")
    recorder.record("jrnl01", WECHAT, "ua", "10.0.0.1", "")
    journal_fd = recorder._journal.fd
    full = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    recorder._journal.fd = full
    try:
        with caplog.at_level(logging.ERROR, logger="redirector.clicks"):
            for _ in range(5):
                recorder.record("jrnl01", WECHAT, "ua", "10.0.0.2", "")
    finally:
        recorder._journal.fd = journal_fd
        os.close(full)
    assert "No space left on device" in caplog.text
    recorder.record("jrnl01", WECHAT, "ua", "10.0.0.3", "")
    assert recorder.stats()[:2] == (2, 5)  # journalled, held
    await recorder.stop()
    assert await human_clicks(store) == 7
    assert journal_family(tmp_path / "clicks.jsonl") == []


async def test_past_the_memory_bound_clicks_are_lost_counted_and_logged(
    store: Store, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "not-a-directory").write_text("", encoding="utf-8")
    recorder = ClickRecorder(
        DownStore(store),
        clock=clock,
        journal=tmp_path / "not-a-directory" / "c.jsonl",
        held_limit=10,
    )
    for _ in range(25):
        recorder.record("jrnl01", WECHAT, "ua", "10.0.0.1", "")
    assert recorder.stats()[1::4] == (10, 15)  # held, lost
    with caplog.at_level(logging.ERROR, logger="redirector.clicks"):
        await recorder.stop()
    assert "25 clicks lost" in caplog.text
    assert recorder.stats().lost == 25


def faults(storage_url: str, *scenarios: str) -> list[dict[str, Any]]:
    """benchmarks/faults.py on this test's database, small: one JSON object per scenario."""
    command = [sys.executable, str(REPO / "benchmarks" / "faults.py"), "--json"]
    command += ["--storage-url", storage_url, "--requests", "1500", "--scenario", *scenarios]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, cwd=REPO
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def test_kill_9_mid_load_locked_or_not_loses_no_click_a_reader_saw(
    storage_url: str,
) -> None:
    outcomes = await asyncio.to_thread(faults, storage_url, "kill9", "locked-kill9")
    assert [o["scenario"] for o in outcomes] == ["kill9", "locked-kill9"]
    for o in outcomes:
        assert o["served"] >= 750  # the kill came mid-load
        # Every 302 seen is counted; a few more were answered as the process died, unseen.
        assert o["served"] <= o["counted"] <= o["served"] + 16
        assert o["rolled_up"] == o["counted"]  # nothing counted twice in the rollup
    # Locked: every click waited in the journal, and the restart took them in.
    assert outcomes[1]["recovered"] == outcomes[1]["counted"]


async def test_a_stored_journal_is_replaced_by_a_fresh_file_once_big(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    configured = tmp_path / "clicks.jsonl"
    recorder = ClickRecorder(store, clock=clock, journal=configured, rotate_bytes=1000)
    names = []
    for _ in range(3):
        for _ in range(10):  # about 1,500 bytes of journal
            recorder.record("jrnl01", WECHAT, "ua", "10.0.0.1", "")
        [journal] = journal_family(configured)
        names.append(journal.name)
        await recorder.flush()
    assert len(set(names)) == 3  # each flush stored a big file whole and started a fresh one
    [left] = journal_family(configured)
    assert left.stat().st_size == 0 and left.name not in names
    await recorder.stop()
    assert journal_family(configured) == []
    assert await human_clicks(store) == 30
    assert all([await store.journal_offset(name) == 0 for name in names])

"""Operators' commands on both engines: `suo migrate` (and the group reader rollup it
back-fills), `suo export --csv` whose numbers match the clicks that were recorded."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest

from bot.model import Click, ClickClass, Period
from bot.storage import open_store
from bot.storage import postgres as postgres_engine
from bot.storage import sqlite as sqlite_engine
from suo.cli import main
from tests.conftest import BOTH_ENGINES, FIXED_NOW, free_port, process_config, query

ENGINES = BOTH_ENGINES

DAY_MS = 86_400_000
TODAY_MS = int(FIXED_NOW.timestamp() * 1000)
YESTERDAY_MS = TODAY_MS - DAY_MS
LATEST = {"sqlite": len(sqlite_engine.MIGRATIONS), "postgresql": len(postgres_engine.MIGRATIONS)}
# What the migrations after the group_readers rollup created (the link-change log, the click
# journals' marks), undone so that a database can be rewound to the version before the rollup.
UNDO_LATER_MIGRATIONS = {
    "sqlite": (
        "DROP TRIGGER links_inserted",
        "DROP TRIGGER links_changed",
        "DROP TRIGGER group_rules_changed",
        "DROP TABLE link_changes",
        "DROP TABLE click_journals",
    ),
    "postgresql": (
        "DROP FUNCTION suo_link_changed CASCADE",
        "DROP FUNCTION suo_group_rules_changed CASCADE",
        "DROP TABLE link_changes",
        "DROP FUNCTION suo_link_change_noted",
        "DROP INDEX click_hourly_code_hour",
        "DROP TABLE click_journals",
    ),
}
# The schema version each engine had before its group_readers rollup.
BEFORE_GROUP_READERS = {"sqlite": 7, "postgresql": 1}


@pytest.fixture
def cfg(tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SUO_STORAGE_URL", storage_url)
    return process_config(tmp_path, free_port())


def click(n: int, code: str, ts_ms: int, klass: ClickClass, visitor: str) -> Click:
    return Click(
        n, code, ts_ms, klass, "wechat" if klass is ClickClass.HUMAN else klass, "", visitor
    )


async def seed(url: str) -> int:
    """Two links of one group with clicks over two days; returns the group's id."""
    store = await open_store(url)
    try:
        group = await store.upsert_group("telegram", "-1001", "读书会")
        await store.upsert_group("telegram", "-1002", "other")
        ann = await store.upsert_user("telegram", "7", 'Ann, "the" sharer')
        await store.create_link("aaaa", "https://example.com/a?x=1,2", group.id, ann, FIXED_NOW)
        await store.create_link("bbbb", "https://example.com/b", group.id, None, FIXED_NOW)
        h, p, b = ClickClass.HUMAN, ClickClass.PREVIEW, ClickClass.BOT
        await store.add_clicks(
            [
                click(1, "aaaa", YESTERDAY_MS, h, "v1"),
                click(2, "aaaa", YESTERDAY_MS + 60_000, h, "v1"),
                click(3, "aaaa", YESTERDAY_MS + 120_000, h, "v2"),
                click(4, "aaaa", YESTERDAY_MS, p, "v3"),
                click(5, "aaaa", YESTERDAY_MS, b, "v4"),
                click(6, "bbbb", YESTERDAY_MS, h, "v1"),
                click(7, "bbbb", TODAY_MS - 3_600_000, h, "v1"),
                click(8, "bbbb", TODAY_MS - 3_000_000, h, "v1"),
            ]
        )
        return group.id
    finally:
        await store.close()


async def run(*argv: str) -> int:
    # main() runs its own event loop, so it gets a thread of its own.
    return await asyncio.to_thread(main, list(argv))


async def test_migrate_prints_the_engine_and_versions_then_nothing_left(
    cfg: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("--config", str(cfg), "migrate") == 0
    assert await run("--config", str(cfg), "migrate") == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith(f"{engine} ") and first.endswith(
        f": schema version 0 -> {LATEST[engine]}"
    )
    assert second.endswith(f"schema version {LATEST[engine]} -> {LATEST[engine]}")


async def test_migrate_backfills_group_readers_from_an_older_schema(
    cfg: Path, engine: str, storage_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = await seed(storage_url)
    week = Period.last_days(7, FIXED_NOW)
    # The schema as the version before this one left it: no group rollup yet.
    await query(storage_url, "DROP TABLE group_readers")
    for statement in UNDO_LATER_MIGRATIONS[engine]:  # what migrations after it created
        await query(storage_url, statement)
    older = BEFORE_GROUP_READERS[engine]
    if engine == "sqlite":
        await query(storage_url, f"PRAGMA user_version = {older}")
    else:
        await query(storage_url, f"DELETE FROM schema_migrations WHERE version > {older}")  # noqa: S608
    assert await run("--config", str(cfg), "migrate") == 0
    assert capsys.readouterr().out.strip().endswith(f"{older} -> {LATEST[engine]}")
    store = await open_store(storage_url)
    try:
        stats = await store.period_stats(group_id, week, top=5)
    finally:
        await store.close()
    # v1 and v2 yesterday (v1 read both links: one reader-day), v1 again today.
    assert stats.unique_readers == 3


async def test_an_unopenable_database_is_one_line_and_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("not a database\n" * 100, encoding="utf-8")
    monkeypatch.setenv("SUO_STORAGE_URL", f"sqlite:///{not_a_db}")
    cfg = process_config(tmp_path, free_port())
    assert await run("--config", str(cfg), "migrate") == 3
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and str(not_a_db) in err and "Traceback" not in err


async def test_export_writes_links_and_daily_clicks_that_match_the_clicks(
    cfg: Path, storage_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = await seed(storage_url)
    out = tmp_path / "export"
    assert (
        await run("--config", str(cfg), "export", "--group", "读书会", "--csv", "--out", str(out))
        == 0
    )
    written = capsys.readouterr().out.split()
    links_path, clicks_path = (
        out / f"group-{group_id}-links.csv",
        out / f"group-{group_id}-clicks.csv",
    )
    assert written == [str(links_path), str(clicks_path)]
    with links_path.open(encoding="utf-8", newline="") as f:
        links = list(csv.DictReader(f))
    assert [r["code"] for r in links] == ["aaaa", "bbbb"]
    assert links[0]["url"] == "https://example.com/a?x=1,2"
    assert links[0]["short_url"].endswith("/aaaa") and links[0]["sharer"] == 'Ann, "the" sharer'
    assert links[1]["sharer"] == "" and links[1]["disabled"] == "false"
    assert links[0]["created_at"] == FIXED_NOW.isoformat()
    with clicks_path.open(encoding="utf-8", newline="") as f:
        days = [
            (r["code"], r["day_utc"], r["human"], r["previews"], r["bots"], r["unique_readers"])
            for r in csv.DictReader(f)
        ]
    yesterday, today = (FIXED_NOW - timedelta(days=1)).date(), FIXED_NOW.date()
    assert days == [
        ("aaaa", yesterday.isoformat(), "3", "1", "1", "2"),
        ("bbbb", yesterday.isoformat(), "1", "0", "0", "1"),
        ("bbbb", today.isoformat(), "2", "0", "0", "1"),
    ]


async def test_export_to_stdout_and_a_group_that_does_not_match(
    cfg: Path, storage_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(storage_url)
    assert (
        await run("--config", str(cfg), "export", "--group", "-1001", "--csv", "--out", "-") == 0
    )
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    gap = rows.index([])
    assert [r[0] for r in rows[:gap]] == ["code", "aaaa", "bbbb"]
    assert [r[0] for r in rows[gap + 1 :]] == ["code", "aaaa", "bbbb", "bbbb"]
    assert await run("--config", str(cfg), "export", "--group", "nobody", "--csv") == 1
    assert "0 groups match 'nobody'" in capsys.readouterr().err


async def shared_data(url: str, group_id: int) -> tuple[object, ...]:
    """What a restore must bring back: the group's links, its clicks per link and day, and its
    totals."""
    store = await open_store(url)
    try:
        return (
            await store.group_links(group_id),
            await store.clicks_per_link_day(group_id),
            await store.group_stats(group_id),
        )
    finally:
        await store.close()


@pytest.mark.sqlite_only("PostgreSQL is backed up with pg_dump")
async def test_backup_restores_to_a_database_with_the_same_links_and_clicks(
    cfg: Path, storage_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = await seed(storage_url)
    backup = tmp_path / "backups" / "suo-backup.db"
    backup.parent.mkdir()
    assert await run("--config", str(cfg), "backup", str(backup)) == 0
    out = capsys.readouterr().out.strip()
    assert out.endswith(f"-> {backup}: 2 links, 8 clicks, schema version {LATEST['sqlite']}")
    assert sorted(p.name for p in backup.parent.iterdir()) == ["suo-backup.db"]  # one file
    # Restored as docs/operations.md says: the copy put where the configured file was.
    restored = tmp_path / "restored" / "suo.db"
    restored.parent.mkdir()
    restored.write_bytes(backup.read_bytes())
    restored_url = f"sqlite:///{restored}"
    assert await shared_data(restored_url, group_id) == await shared_data(storage_url, group_id)


@pytest.mark.sqlite_only("PostgreSQL is backed up with pg_dump")
async def test_a_backup_under_load_is_the_database_as_of_one_moment(
    cfg: Path, storage_url: str, tmp_path: Path
) -> None:
    """Clicks keep arriving in batches of 100 (one transaction each) while the backup runs:
    the copy holds whole batches, and rollups that agree with its raw clicks."""
    await seed(storage_url)
    store = await open_store(storage_url)
    done = asyncio.Event()

    async def write_batch(number: int) -> None:
        start = 1_000 + number * 100
        await store.add_clicks(
            [click(start + i, "aaaa", TODAY_MS + i, ClickClass.HUMAN, "v") for i in range(100)]
        )

    async def write_batches() -> int:
        batches = 1
        while not done.is_set() or batches < 3:  # during the copy and after it
            await write_batch(batches)
            batches += 1
        return batches

    await write_batch(0)  # before the copy
    writer = asyncio.create_task(write_batches())
    try:
        backup = tmp_path / "under-load.db"
        assert await run("--config", str(cfg), "backup", str(backup)) == 0
        done.set()
        batches = await writer
    finally:
        done.set()
        await store.close()
    url = f"sqlite:///{backup}"
    ((raw,),) = await query(url, "SELECT COUNT(*) FROM clicks")
    ((rolled,),) = await query(url, "SELECT SUM(clicks) FROM click_hourly")
    assert raw >= 108 and (raw - 8) % 100 == 0 and raw == rolled
    ((live,),) = await query(storage_url, "SELECT COUNT(*) FROM clicks")
    assert live == 8 + batches * 100


async def test_backup_of_postgresql_points_to_pg_dump_and_hides_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUO_STORAGE_URL", "postgresql://suo:hunter2-secret@127.0.0.1:1/suo")
    cfg = process_config(tmp_path, free_port())
    assert await run("--config", str(cfg), "backup", str(tmp_path / "x.db")) == 2
    err = capsys.readouterr().err
    assert "pg_dump" in err and "hunter2-secret" not in err
    assert not (tmp_path / "x.db").exists()

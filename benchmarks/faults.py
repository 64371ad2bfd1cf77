"""Faults from outside, on real processes: the redirects a load client saw (served) against the
clicks the database holds afterwards (counted), per fault, on SQLite and PostgreSQL.

Each scenario starts a `suo redirector` on 127.0.0.1, loads one short link with aiohttp, applies
its fault, then starts a fresh redirector on the same files (it ingests what the first one's
journal holds), stops it with SIGTERM and counts the clicks the database gained.

    python benchmarks/faults.py [--engine sqlite|postgresql|both] [--requests 20000]
        [--connections 16] [--scenario NAME ...] [--storage-url URL] [--json]

Scenarios:
  sigterm          SIGTERM mid-load
  kill9            kill -9 mid-load
  locked-kill9     the database locked by another connection through the load, kill -9
                   mid-load, then unlocked
  full-lock        the journal's disk full after a few hundred clicks (a 64 KiB tmpfs when run
                   as root, else a directory that cannot be made), the database locked through
                   the load; unlocked, then SIGTERM: the clicks held in memory are stored
  full-lock-kill9  the same, but kill -9 while still locked (11 s after the load): counted are
                   the clicks the disk took, and the log said how many were held in memory only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
# The same fresh-database helper, port picker and `suo` command line as the processes benchmark.
from processes import (  # noqa: E402
    REPO,
    database,
    free_port,
    shorten,
    suo_command,
    write_config,
)

sys.path.insert(0, str(REPO))
from redirector.journal import journal_family, parse_line  # noqa: E402

READER_UA = (  # a WeChat reader: a human click, classified on the redirect path
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40"
)
READY_TIMEOUT = 60.0
LOAD_TIMEOUT = 120.0
SMALL_DISK = "64k"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    signal: signal.Signals
    lock: bool  # another connection locks the clicks through the load
    full_disk: bool  # the journal's directory fills up (or cannot be made)
    mid_load: bool  # the signal once half the load is served, else after all of it
    unlock_first: bool  # after the load: unlock, then the signal (else: signal, then unlock)


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("sigterm", "SIGTERM mid-load", signal.SIGTERM, False, False, True, False),
        Scenario("kill9", "kill -9 mid-load", signal.SIGKILL, False, False, True, False),
        Scenario(
            "locked-kill9", "database locked + kill -9", signal.SIGKILL, True, False, True, False
        ),
        Scenario(
            "full-lock",
            "journal disk full + locked, SIGTERM",
            signal.SIGTERM,
            True,
            True,
            False,
            True,
        ),
        Scenario(
            "full-lock-kill9",
            "journal disk full + locked + kill -9",
            signal.SIGKILL,
            True,
            True,
            False,
            False,
        ),
    )
}
# After a whole load and before a kill -9 with the database still locked: long enough for the
# recorder's next once-per-interval log line, which counts the clicks held in memory only.
LINGER_SECONDS = 11.0


@dataclass
class Outcome:
    engine: str
    scenario: str
    served: int  # 302s the load client saw
    counted: int  # clicks the database gained (rows of `clicks`)
    rolled_up: int  # what the hourly rollup gained: equal to `counted` unless one counted twice
    recovered: int  # of `counted`, what the second process took in from the first's journal
    on_disk: int  # whole entries in the journal files the first process left
    journal: str  # where the journal was
    said: str  # the last line the first process logged about its journal or a loss

    @property
    def holds(self) -> bool:
        """Every 302 counted once; with the journal's disk full and kill -9, what it took."""
        if self.rolled_up != self.counted:
            return False
        if self.scenario == "full-lock-kill9":
            return self.counted == self.on_disk
        return self.counted >= self.served

    @property
    def verdict(self) -> str:
        if self.rolled_up != self.counted:
            return "ROLLUP DISAGREES"
        if self.counted == self.served:
            return "every 302 counted once"
        if self.counted > self.served:
            return f"+{self.counted - self.served} answered as the process died (unseen)"
        return f"{self.served - self.counted} lost" + ("" if self.holds else " UNEXPECTEDLY")


@contextlib.contextmanager
def journal_place(workdir: Path, full_disk: bool) -> Iterator[tuple[Path, str]]:
    """The journal's configured path, and a description of its disk."""
    place = workdir / "journal"
    place.mkdir()
    if not full_disk:
        yield place / "clicks.jsonl", "a local directory"
        return
    mount = ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK}", "tmpfs", str(place)]
    if (
        os.geteuid() == 0
        and subprocess.run(mount, check=False, capture_output=True).returncode == 0
    ):
        try:
            yield place / "clicks.jsonl", f"a {SMALL_DISK} tmpfs (fills up)"
        finally:
            subprocess.run(["umount", str(place)], check=False)
        return
    blocker = workdir / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    yield blocker / "clicks.jsonl", "a directory that cannot be made"


@contextlib.asynccontextmanager
async def locked(storage_url: str, lock: bool) -> AsyncIterator[None]:
    """The clicks locked by another connection, as a long migration or a backup would."""
    if not lock:
        yield
        return
    if storage_url.startswith("sqlite:///"):
        db = sqlite3.connect(storage_url.removeprefix("sqlite:///"), isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")
            db.close()
        return
    import asyncpg

    conn = await asyncpg.connect(storage_url)
    try:
        await conn.execute("BEGIN; LOCK TABLE clicks IN ACCESS EXCLUSIVE MODE")
        yield
        await conn.execute("ROLLBACK")
    finally:
        await conn.close()


async def click_counts(storage_url: str) -> tuple[int, int]:
    """(rows of clicks, sum of the hourly rollup)."""
    sql = (
        "SELECT (SELECT count(*) FROM clicks), (SELECT COALESCE(SUM(clicks), 0) FROM click_hourly)"
    )
    if storage_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(storage_url.removeprefix("sqlite:///"))) as db:
            rows, rolled = db.execute(sql).fetchone()
    else:
        import asyncpg

        conn = await asyncpg.connect(storage_url)
        try:
            rows, rolled = await conn.fetchrow(sql)
        finally:
            await conn.close()
    return int(rows), int(rolled)


async def start_redirector(config: Path, log: Path) -> asyncio.subprocess.Process:
    """A `suo redirector`, once its log says it listens."""
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *suo_command(config, "redirector"), stdout=out, stderr=out, cwd=REPO
        )
    async with asyncio.timeout(READY_TIMEOUT):
        while "port shared" not in (text := log.read_text(errors="replace")):  # noqa: ASYNC240
            if proc.returncode is not None:
                raise RuntimeError(f"the redirector exited:\n{text}")
            await asyncio.sleep(0.05)
    return proc


async def load(url: str, proc: asyncio.subprocess.Process, s: Scenario, args: Any) -> int:
    """GET `url` from `connections` clients until `requests` 302s were seen or the server is
    gone; mid-load scenarios send their signal once half were seen. Returns the 302s seen."""
    served = 0
    signalled = not s.mid_load

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal served, signalled
        while served < args.requests:
            try:
                async with http.get(url, allow_redirects=False) as resp:
                    served += resp.status == 302
            except (aiohttp.ClientError, OSError):
                if signalled or proc.returncode is not None:
                    return
                await asyncio.sleep(0.05)
                continue
            if not signalled and served >= args.requests // 2:
                signalled = True
                proc.send_signal(s.signal)

    headers = {"User-Agent": READER_UA}
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        async with asyncio.timeout(LOAD_TIMEOUT):
            await asyncio.gather(*(client(http) for _ in range(args.connections)))
    return served


def entries_on_disk(journal: Path) -> int:
    """Whole click entries in the journal files beside `journal` (a torn line is none)."""
    folder, count = journal.parent, 0
    for path in folder.glob(f"{journal.stem}.*") if folder.is_dir() else ():
        for line in path.read_bytes().splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                parse_line(line)
                count += 1
    return count


def last_said(log: Path) -> str:
    said = [
        line.strip()
        for line in log.read_text(errors="replace").splitlines()
        if ("journal" in line and "cannot be written" in line) or "lost" in line
    ]
    return said[-1] if said else ""


async def run_scenario(
    engine: str, storage_url: str, s: Scenario, workdir: Path, args: Any
) -> Outcome:
    with journal_place(workdir, s.full_disk) as (journal, where):
        config = write_config(workdir, free_port(), storage_url=storage_url, journal=journal)
        short_url = await asyncio.to_thread(shorten, config, dict(os.environ))
        rows_before, rolled_before = await click_counts(storage_url)
        first_log = workdir / "first.log"
        proc = await start_redirector(config, first_log)
        try:
            async with locked(storage_url, s.lock):
                served = await load(short_url, proc, s, args)
                if not s.mid_load and not s.unlock_first:
                    await asyncio.sleep(LINGER_SECONDS)
                    proc.send_signal(s.signal)
                if not s.unlock_first:
                    async with asyncio.timeout(READY_TIMEOUT):
                        await proc.wait()
            if s.unlock_first:
                proc.send_signal(s.signal)
            async with asyncio.timeout(READY_TIMEOUT):
                await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        on_disk = entries_on_disk(journal)
        rows_at_death, _ = await click_counts(storage_url)
        second = await start_redirector(config, workdir / "second.log")
        # It takes the dead one's journal in while it serves, and leaves the rest to the next
        # process if stopped first: stop it once the journal is in (or gone for good).
        own = f".{second.pid}-"
        async with asyncio.timeout(READY_TIMEOUT):
            # Another process changes the directory: nothing to wait on but its contents.
            while any(own not in path.name for path in journal_family(journal)):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        second.send_signal(signal.SIGTERM)
        async with asyncio.timeout(READY_TIMEOUT):
            await second.wait()
        rows, rolled = await click_counts(storage_url)
    counted, rolled_up = rows - rows_before, rolled - rolled_before
    recovered = rows - rows_at_death
    said = last_said(first_log)
    return Outcome(engine, s.name, served, counted, rolled_up, recovered, on_disk, where, said)


async def run_engine(engine: str, storage_url: str, args: Any) -> list[Outcome]:
    outcomes = []
    for name in args.scenario:
        with tempfile.TemporaryDirectory(prefix=f"suo-faults-{name}-") as tmp:
            outcome = await run_scenario(engine, storage_url, SCENARIOS[name], Path(tmp), args)
        outcomes.append(outcome)
        report(outcome, args)
    return outcomes


def report(o: Outcome, args: Any) -> None:
    if args.json:
        print(json.dumps({**asdict(o), "verdict": o.verdict}, ensure_ascii=False), flush=True)
        return
    print(
        f"{o.engine:<10} {SCENARIOS[o.scenario].title:<38} served {o.served:>6}  "
        f"counted {o.counted:>6} (from the journal after the restart: {o.recovered:>6})  "
        f"{o.verdict}",
        flush=True,
    )
    if o.said:
        print(f"{'':<10} its log said: {o.said}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--requests", type=int, default=20_000, help="302s to see per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--storage-url", help="use this database (one engine) instead")
    parser.add_argument("--json", action="store_true", help="one JSON line per scenario")
    args = parser.parse_args(argv)
    if args.storage_url:
        engine = "sqlite" if args.storage_url.startswith("sqlite:") else "postgresql"
        outcomes = asyncio.run(run_engine(engine, args.storage_url, args))
    else:
        outcomes = []
        for engine in ("sqlite", "postgresql") if args.engine == "both" else (args.engine,):
            with (
                tempfile.TemporaryDirectory(prefix="suo-faults-db-") as tmp,
                database(engine, Path(tmp)) as url,
            ):
                outcomes += asyncio.run(run_engine(engine, url, args))
    return 0 if all(o.holds for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Redirect throughput of one `suo redirector` process against two on the same port
(SO_REUSEPORT), on SQLite and on PostgreSQL, loaded with wrk; prints the 2:1 ratio.

Each run starts real `suo redirector` processes on a fresh database with one short link, warms
up, measures, stops them with SIGTERM and counts the stored clicks.

    python benchmarks/processes.py [--engine both] [--duration 10] [--connections 64]
        [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
sys.path.insert(0, str(BENCHMARKS))
# The same wrk runner and parser, and /proc CPU accounting, as the single-process benchmark.
from redirect import (  # noqa: E402
    WrkResult,
    busy_cpu_seconds,
    children_cpu_seconds,
    cpu_seconds,
    run_wrk,
)

HOST = "127.0.0.1"  # everything started or loaded here stays on loopback
POSTGRES = "postgresql://postgres@127.0.0.1:5432"  # the development server, trust auth
TARGET_RATIO = 1.6
WARM_UP_SECONDS = 2
READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def database(engine: str, workdir: Path) -> Iterator[str]:
    """A fresh database URL for one run (a PostgreSQL database is dropped afterwards)."""
    if engine == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    import asyncpg

    name = f"suo_bench_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{POSTGRES}/test")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        asyncio.run(admin(f"DROP DATABASE {name} WITH (FORCE)"))


def write_config(
    workdir: Path, port: int, *, storage_url: str = "", journal: Path | None = None
) -> Path:
    """A process's TOML: this host and port, a storage URL unless SUO_STORAGE_URL gives it,
    and where the click journals go."""
    storage = f'[storage]\nurl = "{storage_url}"\n' if storage_url else ""
    path = workdir / "suo.toml"
    path.write_text(
        f"""
[server]
host = "{HOST}"
port = {port}
public_url = "http://{HOST}:{port}"
secret = "benchmark"

{storage}
[clicks]
spill_path = "{journal or workdir / "clicks.spill.jsonl"}"
""",
        encoding="utf-8",
    )
    return path


def suo_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "suo.cli", "--config", str(config), *args]


def shorten(config: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        suo_command(config, "shorten", "https://example.com/landing", "--json"),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    return str(json.loads(done.stdout)["short_url"])


@contextmanager
def redirectors(count: int, config: Path, env: dict[str, str]) -> Iterator[list[int]]:
    """`count` redirector processes started apart on one port, until they all listen."""
    logs = [config.parent / f"redirector-{i}.log" for i in range(count)]
    procs = []
    for log in logs:
        with log.open("wb") as out:
            command = suo_command(config, "redirector")
            procs.append(subprocess.Popen(command, stdout=out, stderr=out, env=env, cwd=REPO))
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while sum("port shared" in log.read_text(errors="replace") for log in logs) < count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("redirectors did not start:\n" + logs[0].read_text())
            time.sleep(0.05)
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=READY_TIMEOUT)


def count_clicks(url: str) -> int:
    async def count() -> int:
        if url.startswith("postgresql://"):
            import asyncpg

            conn = await asyncpg.connect(url)
            try:
                return int(await conn.fetchval("SELECT COUNT(*) FROM clicks"))
            finally:
                await conn.close()
        import aiosqlite

        path = url.removeprefix("sqlite:///")
        async with aiosqlite.connect(path) as db, db.execute("SELECT COUNT(*) FROM clicks") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    return asyncio.run(count())


@dataclass(frozen=True, slots=True)
class Run:
    result: WrkResult
    sent: int  # requests wrk reported, warm-up included
    stored: int  # rows in clicks after a graceful stop
    redirector_cores: float  # CPU the redirector processes used, in cores, while measured
    other_cores: float  # CPU neither they nor wrk used (PostgreSQL's server counts here)


def cpu_of(pids: list[int]) -> tuple[float, float, float]:
    """(the redirectors', the machine's busy, wrk's) CPU seconds so far."""
    redirectors = sum(cpu_seconds(pid) or 0.0 for pid in pids)
    return redirectors, busy_cpu_seconds() or 0.0, children_cpu_seconds()


def measure(engine: str, count: int, args: argparse.Namespace) -> Run:
    """One run on a fresh database: warm up, measure, stop, count the stored clicks."""
    with (
        tempfile.TemporaryDirectory(prefix="suo-procs-") as tmp,
        database(engine, Path(tmp)) as url,
    ):
        config = write_config(Path(tmp), free_port())
        env = {**os.environ, "SUO_STORAGE_URL": url, "PYTHONPATH": str(REPO)}
        short_url = shorten(config, env)
        with redirectors(count, config, env) as pids:
            warm = run_wrk(short_url, WARM_UP_SECONDS, args.connections, args.threads)
            before, started = cpu_of(pids), time.monotonic()
            result = run_wrk(short_url, args.duration, args.connections, args.threads)
            after, seconds = cpu_of(pids), time.monotonic() - started
        ours, busy, wrk = (b - a for a, b in zip(before, after, strict=True))
        return Run(
            result,
            warm.requests + result.requests,
            count_clicks(url),
            redirector_cores=ours / seconds,
            other_cores=max(0.0, busy - ours - wrk) / seconds,
        )


def bench_engine(engine: str, args: argparse.Namespace) -> float:
    """Rounds of 1 then 2 processes; prints each run and returns the median 2:1 ratio."""
    ratios = []
    for round_number in range(1, args.rounds + 1):
        rates = {}
        for count in (1, 2):
            run = measure(engine, count, args)
            rates[count] = run.result.requests_per_s
            # wrk counts a timeout for each connection whose request is over 2 s old at its
            # check every 2 s: as many as --connections, at once, is a stall of both
            # processes, or of the machine or wrk, not one process refusing its share.
            kinds = f" ({run.result.error_kinds})" if run.result.errors else ""
            print(
                f"{engine:<10} round {round_number}  {count} process{'es' if count > 1 else '  '}"
                f"  {run.result.requests_per_s:>7.0f} req/s  p99 {run.result.p99_ms:>6.1f} ms"
                f"  suo CPU {run.redirector_cores * 1e6 / run.result.requests_per_s:.0f} µs/req"
                f"  cores: suo {run.redirector_cores:.2f}, other {run.other_cores:.2f}"
                f"  errors {run.result.errors}{kinds}"
                f"  clicks {run.stored} of ~{run.sent} requests",
                flush=True,
            )
        ratios.append(rates[2] / rates[1])
    return statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    print(f"{os.cpu_count()} CPUs; wrk --threads {args.threads} --connections {args.connections}")
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    summary = {engine: bench_engine(engine, args) for engine in engines}
    for engine, ratio in summary.items():
        verdict = "ok" if ratio >= TARGET_RATIO else f"below the {TARGET_RATIO}x goal"
        print(f"{engine}: 2 processes / 1 process = {ratio:.2f}x (median of rounds; {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

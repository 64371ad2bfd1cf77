"""The redirector's cold paths against its hot path, in one run: a scanner's spray of unknown
codes, a link with an opens limit, and random codes over a million links.

One suo server (SQLite, click recording on, the production fast path) runs in a subprocess on
127.0.0.1, seeded with `--links` links; wrk loads each cold path right after the hot link,
for a few rounds, and the median ratios to the hot link are printed: of requests/s, and of the
server's CPU per request (what the ratio would be with a core of its own, when other work on
the machine takes part of the server's). Needs wrk.

    python benchmarks/cold_paths.py [--links 1000000] [--duration 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # redirect.py, this one's sibling

from redirect import (
    DB_NAME,
    LANDING,
    LOAD_CPU,
    READY_TIMEOUT,
    REPO,
    SERVER_CPU,
    STOP_TIMEOUT,
    USER_AGENT,
    _announce,
    _pin_to,
    _read_line,
    _stop_event,
    cpu_seconds,
    parse_wrk,
    serve_until_signalled,
    suo_config,
)

sys.path.insert(0, str(REPO))

LIMITED = "lim0001"
HOT_PATH = "/hot0001"
TARGET_RATIO = 0.5
SEED_ROWS_PER_BATCH = 50_000
# Lua for wrk: each request a random code, of the seeded links ("r" + 7 digits) or of none.
RANDOM_LINK = 'return wrk.format("GET", string.format("/r%07d", math.random(0, {n} - 1)))'
UNKNOWN = 'return wrk.format("GET", string.format("/u%09d", math.random(0, 999999999)))'
SCRIPT = "math.randomseed(os.time())\nrequest = function()\n  {body}\nend\n"


# --- server side: `--serve --workdir DIR --links N` ---------------------------------------------


def seed_links(db: Path, group_id: int, count: int) -> float:
    """`count` links r0000000... in the group, in batches of one transaction; seconds taken."""
    started = time.perf_counter()
    created = datetime.now(UTC).isoformat()
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        for start in range(0, count, SEED_ROWS_PER_BATCH):
            rows = (
                (f"r{i:07d}", f"{LANDING}/{i}", group_id, created)
                for i in range(start, min(count, start + SEED_ROWS_PER_BATCH))
            )
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO links (code, url, group_id, created_at) VALUES (?, ?, ?, ?)", rows
            )
            conn.execute("COMMIT")
    return time.perf_counter() - started


async def serve(workdir: Path, links: int) -> None:
    from bot.model import LinkRules
    from suo.app import Suo

    config = suo_config(0, workdir)
    stop = _stop_event()
    suo = await Suo.open(config)
    try:
        group = await suo.store.upsert_group("console", "bench", "bench")
        now = datetime.now(UTC)
        await suo.store.create_link(HOT_PATH[1:], LANDING, group.id, None, now)
        never_used_up = LinkRules(max_clicks=1_000_000_000)
        await suo.store.create_link(LIMITED, f"{LANDING}/l", group.id, None, now, never_used_up)
        _announce(seeded=links, seconds=round(seed_links(workdir / DB_NAME, group.id, links), 1))
        await serve_until_signalled(suo.redirector_app(), 0, HOT_PATH, stop)
        _announce(stopped=True)
    finally:
        await suo.shutdown()


# --- load side ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Server:
    base: str  # http://127.0.0.1:port
    pid: int


@dataclass(frozen=True, slots=True)
class Load:
    """One wrk run against the server."""

    requests_per_s: float
    cpu_us_per_request: float  # the server's, user + system


@contextlib.contextmanager
def running_server(workdir: Path, links: int, pin: bool) -> Iterator[Server]:
    """The server while it runs; SIGTERM on leaving."""
    command = [sys.executable, __file__, "--serve", "--workdir", str(workdir)]
    command += ["--links", str(links)]
    cpu = SERVER_CPU if pin else None
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=_pin_to(cpu))
    try:
        seeded = _read_line(proc, READY_TIMEOUT + links / 10_000)
        print(f"seeded {seeded['seeded']:,} links in {seeded['seconds']} s", flush=True)
        ready = _read_line(proc, READY_TIMEOUT)
        yield Server(str(ready["url"]).removesuffix(HOT_PATH), proc.pid)
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(RuntimeError):
            _read_line(proc, STOP_TIMEOUT)
        proc.wait(timeout=STOP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wrk(
    server: Server, url: str, args: argparse.Namespace, seconds: int, lua: str | None = None
) -> Load:
    """What wrk gets from `url` (each request's path from `lua`, if given), and what it cost
    the server."""
    command = ["wrk", "--threads=1", f"--connections={args.connections}"]
    command += [f"--duration={seconds}s", "--latency", "--header", f"User-Agent: {USER_AGENT}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if lua is not None:
            script.write(SCRIPT.format(body=lua))
            command += ["--script", script.name]
    cpu_before = cpu_seconds(server.pid) or 0.0
    try:
        done = subprocess.run(
            [*command, url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
            preexec_fn=_pin_to(LOAD_CPU if args.pin else None),
        )
    finally:
        os.unlink(script.name)
    result = parse_wrk(done.stdout)
    cpu = (cpu_seconds(server.pid) or 0.0) - cpu_before
    return Load(result.requests_per_s, cpu * 1e6 / max(1, result.requests))


Ratios = dict[str, list[tuple[float, float]]]  # per path and round: (requests/s, CPU) ratios


def measure(server: Server, args: argparse.Namespace) -> Ratios:
    """Per cold path, the ratios to the hot link measured just before it, once per round: on
    a shared machine the load of others moves absolute figures more than our changes do."""
    base = server.base
    paths: list[tuple[str, str, str | None]] = [
        ("unknown codes (a scanner)", base, UNKNOWN),
        ("opens-limited link", f"{base}/{LIMITED}", None),
        (f"random codes over {args.links:,} links", base, RANDOM_LINK.format(n=args.links)),
    ]
    ratios: Ratios = {name: [] for name, _, _ in paths}
    for round_number in range(1, args.rounds + 1):
        for name, url, lua in paths:
            wrk(server, url, args, args.warmup, lua)  # a random path's first misses, and a lull
            hot = wrk(server, base + HOT_PATH, args, args.duration)
            cold = wrk(server, url, args, args.duration, lua)
            ratios[name].append(
                (
                    cold.requests_per_s / hot.requests_per_s,
                    hot.cpu_us_per_request / cold.cpu_us_per_request,
                )
            )
            print(
                f"  round {round_number}, {name}: {cold.requests_per_s:,.0f} vs hot "
                f"{hot.requests_per_s:,.0f} requests/s; server CPU {cold.cpu_us_per_request:.0f}"
                f" vs {hot.cpu_us_per_request:.0f} µs per request",
                flush=True,
            )
    return ratios


def report(ratios: Ratios) -> bool:
    print(
        "\n| path | vs hot link (median of rounds) | rounds "
        "| by server CPU per request (median) | rounds |\n|---|---|---|---|---|"
    )
    ok = True
    for name, each in ratios.items():
        rates, cpus = ([pair[i] for pair in each] for i in (0, 1))
        ratio = statistics.median(rates)
        ok = ok and ratio >= TARGET_RATIO
        print(
            f"| {name} | **{ratio:.2f}x** | {', '.join(f'{r:.2f}' for r in rates)} "
            f"| {statistics.median(cpus):.2f}x | {', '.join(f'{r:.2f}' for r in cpus)} |"
        )
    print(f"\ngoal >= {TARGET_RATIO}x each (requests/s): {'met' if ok else 'NOT met'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=8, help="measured seconds per path")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=len(os.sched_getaffinity(0)) >= 2,
        help=f"server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU} (default with 2+ CPUs)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.workdir, args.links))
        return 0
    with (
        tempfile.TemporaryDirectory(prefix="suo-cold-") as tmp,
        running_server(Path(tmp), args.links, args.pin) as server,
    ):
        results = measure(server, args)
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())

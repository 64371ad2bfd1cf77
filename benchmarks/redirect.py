"""Redirect throughput: our redirector (click recording on) next to a bare aiohttp 302.

Each server runs alone in its own subprocess on 127.0.0.1 and is loaded with wrk; after each
suo run the server is stopped gracefully and the clicks it stored are counted. Each suo and
rules server is then loaded again while a flood of made-up 8 KB User-Agents, each never seen
before, hits the same link: ordinary readers' throughput and p99 are compared with the calm run.

    python benchmarks/redirect.py [--duration 10] [--connections 50] [--threads 1] [--no-flood]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import select
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

if TYPE_CHECKING:
    from bot.config import Config

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the checkout this script is in, not another installed copy

HOST = "127.0.0.1"  # everything this script starts or loads stays on loopback
LANDING = "https://example.com/landing"
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI "
    "Language/zh_CN"
)
# "suo": a link without rules; "rules": a link whose rules (allowed platforms, anti-red for
# other apps, an expiry) are checked on every request and let this WeChat reader through.
SERVERS = ("bare", "suo", "rules")
TARGET_RATIO = 0.9
NOISY_OTHER_LOAD = 0.1  # of one core
# The bare app routes the same dynamic path as redirector.app, so routing costs the same.
BARE_CODE_PATTERN = "[A-Za-z0-9]{1,32}"
BARE_CODE = "bench01"
SERVE_SCRIPT = Path(__file__).resolve()  # the child runs this same file with --serve
DB_NAME = "bench.db"
WRK_RUNS = 2  # per server start: warm-up, then the measured run
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# With --pin (the default on a machine with 2+ CPUs) the server and everything it starts runs
# on SERVER_CPU and wrk on LOAD_CPU, so the two never fight over a core and the scheduler's
# placement stops being part of the result: req/s then follows the server's CPU per request.
SERVER_CPU = 0
LOAD_CPU = 1
# The flood: made-up User-Agents, each never seen before, at a steady rate while wrk measures.
# 8,000 characters: aiohttp refuses a header field over 8,190 bytes with a 400, and a flood
# that is refused costs the server nothing to learn from.
FLOOD_RATE = 200.0  # requests per second
FLOOD_UA_CHARS = 8000
FLOOD_CONNECTIONS = 8
FLOOD_THROUGHPUT_TARGET = 0.5  # ordinary readers' requests/s under the flood, of the calm run's
FLOOD_P99_TARGET = 2.0  # ordinary readers' p99 under the flood, of the calm run's


# --- server side: `--serve bare|suo --port N` -------------------------------------------------


def _announce(**fields: object) -> None:
    """One JSON line on stdout: how the parent learns the server is up, and how it ended."""
    print(json.dumps(fields), flush=True)


def _stop_event() -> asyncio.Event:
    """Set on SIGINT/SIGTERM, installed before the server announces itself as ready."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


class AnsweredRedirects:
    """Counts 302s as they are sent: the server's side of the request count.

    wrk does not count the requests still in flight when it stops (one per connection at
    most), so its total alone cannot tell a lost click from an unread answer. Both servers
    carry this same wrapper around their request handler, so it costs them alike.
    """

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, runner: web.AppRunner) -> None:
        server = runner.server
        assert server is not None
        inner = server.request_handler

        async def counted(request: web.BaseRequest) -> web.StreamResponse:
            response = await inner(request)
            if response.status == 302:
                self.count += 1
            return response

        server.request_handler = counted


async def serve_until_signalled(
    app: web.Application, port: int, path: str, stop: asyncio.Event
) -> int:
    """Serve `app` on 127.0.0.1:`port` (0: any free port) until SIGINT/SIGTERM.

    Announces the URL to load, and returns how many 302s were answered.
    """
    from redirector.app import REDIRECTS, install_fast_path

    answered = AnsweredRedirects()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if REDIRECTS in app:
        install_fast_path(runner)  # as Suo.start does in production
    answered.wrap(runner)
    try:
        await web.TCPSite(runner, HOST, port).start()
        bound_port = runner.addresses[0][1]
        loop = type(asyncio.get_running_loop()).__module__
        _announce(url=f"http://{HOST}:{bound_port}{path}", loop=loop)
        await stop.wait()
    finally:
        await runner.cleanup()  # for suo, the app's cleanup flushes the click queue
    return answered.count


async def serve_bare(port: int) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": LANDING})

    stop = _stop_event()
    app = web.Application()
    app.router.add_get(f"/{{code:{BARE_CODE_PATTERN}}}", redirect)
    answered = await serve_until_signalled(app, port, f"/{BARE_CODE}", stop)
    _announce(stopped=True, answered=answered)


def suo_config(port: int, workdir: Path) -> Config:
    """The benchmark server's configuration: loopback, its SQLite file and spill in `workdir`."""
    from bot.config import parse_config

    return parse_config(
        {
            "server": {"host": HOST, "port": port},
            "storage": {"url": f"sqlite:///{workdir / DB_NAME}"},
            "clicks": {"spill_path": str(workdir / "clicks.spill.jsonl")},
        },
        env={},
    )


async def serve_suo(port: int, workdir: Path, *, rules: bool) -> None:
    from bot.settings import parse_link_options
    from suo.app import Suo

    config = suo_config(port, workdir)
    stop = _stop_event()
    suo = await Suo.open(config)
    try:
        group = await suo.store.upsert_group("console", "bench", "bench")
        options = None
        if rules:
            _, options = parse_link_options(
                "platforms=wechat,mobile antired=qq,dingtalk expires=30d"
            )
        short = await suo.shortener.shorten_in_group(group, None, LANDING, options)
        app = suo.redirector_app()
        answered = await serve_until_signalled(app, port, f"/{short.link.code}", stop)
        _announce(
            stopped=True,
            answered=answered,
            **suo.recorder.stats()._asdict(),
        )
    finally:
        await suo.shutdown()


def serve(kind: str, port: int, workdir: Path) -> None:
    # Plain asyncio (no uvloop) on purpose: both servers run on the default event loop.
    if kind == "bare":
        asyncio.run(serve_bare(port))
    else:
        asyncio.run(serve_suo(port, workdir, rules=kind == "rules"))


# --- the flood: `--flood-client URL --flood-seconds N` ------------------------------------------


def flood_user_agent(n: int, size: int = FLOOD_UA_CHARS) -> str:
    """A browser-looking UA of `size` characters, unique by `n` within its first 512."""
    head = (
        f"Mozilla/5.0 (Linux; Android 13; SM-G{n:06d}B) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/120.0.{n}.0 Mobile Safari/537.36"
    )
    tail = "".join(f" Ext{i}/{n}.{i} (k{i}; v{n})" for i in range(size // 16))
    return (head + tail)[:size]


async def _flood_connection(
    host: str, port: int, path: str, numbers: range, started: float, rate: float
) -> tuple[int, int]:
    """Send requests `numbers` on one keep-alive connection, each at its turn in the schedule;
    returns (302s, other answers)."""
    reader, writer = await asyncio.open_connection(host, port)
    redirects = others = 0
    try:
        for n in numbers:
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"User-Agent: {flood_user_agent(n)}\r\n\r\n"
            )
            writer.write(request.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if length is not None:
                await reader.readexactly(int(length[1]))
            if head.startswith(b"HTTP/1.1 302"):
                redirects += 1
            else:
                others += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return redirects, others


async def flood(url: str, seconds: float, rate: float = FLOOD_RATE) -> dict[str, object]:
    """`rate` requests a second for `seconds` over FLOOD_CONNECTIONS connections: bounded in
    count (rate x seconds) and in time (the schedule, plus 10 s at most to drain)."""
    parts = urlsplit(url)
    host, port = parts.hostname or HOST, parts.port or 80
    total = int(rate * seconds)
    started = time.monotonic()
    async with asyncio.timeout(seconds + 10):
        counts = await asyncio.gather(
            *(
                _flood_connection(
                    host, port, parts.path, range(i, total, FLOOD_CONNECTIONS), started, rate
                )
                for i in range(FLOOD_CONNECTIONS)
            )
        )
    return {
        "sent": total,
        "redirects": sum(c[0] for c in counts),
        "others": sum(c[1] for c in counts),
        "seconds": time.monotonic() - started,
    }


# --- load side ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx/3xx answers
    error_kinds: str = ""  # the non-zero ones by kind, as wrk names them: "timeout 64"


@dataclass(frozen=True, slots=True)
class ClickCount:
    """What one suo run handed out and what it left in its database."""

    stored: int  # rows in the clicks table after a graceful stop
    readers: int  # of those, classified human in WeChat: wrk's ordinary readers
    answered: int  # 302s the server sent, counted as they were sent


@dataclass(frozen=True, slots=True)
class FloodRun:
    """wrk's ordinary readers measured again while the flood ran, and what the flood got."""

    readers: WrkResult
    sent: int
    redirects: int  # flood requests answered with the 302 (recorded as clicks too)
    others: int
    seconds: float
    # The server's CPU (the flood's share included) per reader's request: what the flood costs
    # readers on a core of their own, whatever else the machine was doing meanwhile.
    cpu_us_per_reader: float | None
    other_cpu: float | None  # the flood client counts here: it is not wrk
    # The server's CPU per flood request with no readers: what the flood costs, measured in a
    # way other load on the machine hardly moves (unlike req/s and p99).
    alone_us_per_request: float | None
    alone_redirects: int


@dataclass(frozen=True, slots=True)
class ServerRun:
    kind: str
    measured: WrkResult
    requests: int  # what wrk reported, warm-up included
    wrk_runs: int
    cpu_us_per_request: float | None  # server process, all threads, measured run only
    other_cpu: float | None  # cores busy with neither the server nor wrk: other load, noise
    clicks: ClickCount | None = None
    flood: FloodRun | None = None


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_NON_3XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def _percentile_ms(output: str, percent: int) -> float:
    match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    if match is None:
        return float("nan")
    return float(match[1]) * _TIME_UNITS_MS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    requests = _REQUESTS.search(output)
    rate = _RATE.search(output)
    if requests is None or rate is None:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    socket_errors = _SOCKET_ERRORS.search(output)
    non_3xx = _NON_3XX.search(output)
    kinds: dict[str, str] = {}
    if socket_errors:
        names = ("connect", "read", "write", "timeout")
        kinds.update(zip(names, socket_errors.groups(), strict=True))
    if non_3xx:
        kinds["non-2xx/3xx"] = non_3xx[1]
    errors = sum(int(n) for n in kinds.values())
    return WrkResult(
        requests=int(requests[1]),
        seconds=float(requests[2]) * _TIME_UNITS_MS[requests[3]] / 1000,
        requests_per_s=float(rate[1]),
        p50_ms=_percentile_ms(output, 50),
        p99_ms=_percentile_ms(output, 99),
        errors=errors,
        error_kinds=", ".join(f"{kind} {n}" for kind, n in kinds.items() if int(n)),
    )


def _pin_to(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def run_wrk(
    url: str, seconds: int, connections: int, threads: int, cpu: int | None = None
) -> WrkResult:
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--latency",
        "--header",
        f"User-Agent: {USER_AGENT}",
        url,
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
        preexec_fn=_pin_to(cpu),
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def _own_cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children += [int(c) for c in task.read_text().split()]
        except OSError:
            continue
    return children


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process, its threads and its live child processes, where /proc
    exists (Linux)."""
    own = _own_cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(_own_cpu_seconds(child) or 0.0 for child in _child_pids(pid))


def busy_cpu_seconds() -> float | None:
    """CPU time the whole machine spent busy (all CPUs; idle and iowait excluded)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU of the child processes waited for so far: each finished wrk run adds its share."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    at: float
    server: float | None
    machine: float | None
    wrk: float

    @classmethod
    def take(cls, server_pid: int) -> CpuSnapshot:
        return cls(
            time.monotonic(),
            cpu_seconds(server_pid),
            busy_cpu_seconds(),
            children_cpu_seconds(),
        )


def other_cpu_load(before: CpuSnapshot, after: CpuSnapshot) -> float | None:
    """Cores kept busy by anything but the server and wrk while measuring."""
    if None in (before.server, after.server, before.machine, after.machine):
        return None
    assert before.server is not None and after.server is not None
    assert before.machine is not None and after.machine is not None
    others = (after.machine - before.machine) - (after.server - before.server)
    others -= after.wrk - before.wrk
    return max(0.0, others) / (after.at - before.at)


def _read_line(proc: subprocess.Popen[str], timeout: float) -> dict[str, object]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"server pid {proc.pid} said nothing for {timeout:.0f}s")
        readable, _, _ = select.select([proc.stdout], [], [], remaining)
        if not readable:
            continue
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"server pid {proc.pid} exited with {proc.wait()}")
        with contextlib.suppress(json.JSONDecodeError):
            fields = json.loads(line)
            if isinstance(fields, dict):
                return fields


@dataclass(slots=True)
class ServerProcess:
    proc: subprocess.Popen[str]
    url: str
    stopped: dict[str, object]  # what the server said after a graceful stop; empty if none


@contextlib.contextmanager
def running_server(kind: str, workdir: Path, cpu: int | None) -> Iterator[ServerProcess]:
    """Run `--serve kind` in a subprocess on a free loopback port; on leaving, stop it with
    SIGTERM as an operator would, and kill it only if it does not stop in time."""
    command = [sys.executable, str(SERVE_SCRIPT), "--serve", kind, "--workdir", str(workdir)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=_pin_to(cpu))
    try:
        ready = _read_line(proc, READY_TIMEOUT)
        if ready.get("loop") != "asyncio.unix_events":
            print(f"note: the {kind} server runs on {ready.get('loop')}", file=sys.stderr)
        server = ServerProcess(proc, str(ready["url"]), {})
        yield server
        proc.send_signal(signal.SIGTERM)
        try:
            server.stopped.update(_read_line(proc, STOP_TIMEOUT))
            proc.wait(timeout=STOP_TIMEOUT)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"WARNING: the {kind} server did not stop cleanly on SIGTERM: {e}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def count_clicks(db: Path) -> tuple[int, int]:
    """(clicks stored, of which human readers in WeChat: wrk's User-Agent)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        total = conn.execute("SELECT COUNT(*) FROM clicks").fetchone()[0]
        readers = conn.execute(
            "SELECT COUNT(*) FROM clicks WHERE class = 'human' AND platform = 'wechat'"
        ).fetchone()[0]
    return int(total), int(readers)


@contextlib.contextmanager
def flooding(url: str, seconds: int, cpu: int | None) -> Iterator[dict[str, object]]:
    """A flood client (a subprocess, on wrk's CPU) sending FLOOD_RATE made-up User-Agents a
    second to `url` for `seconds` (+1, to cover a wrk run started once it floods); what it
    reports is filled in on leaving, after it has finished."""
    command = [
        sys.executable,
        str(SERVE_SCRIPT),
        "--flood-client",
        url,
        "--flood-seconds",
        str(seconds + 1),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=_pin_to(cpu))
    report: dict[str, object] = {}
    try:
        _read_line(proc, READY_TIMEOUT)  # {"flooding": true}: the schedule has started
        yield report
        report.update(_read_line(proc, seconds + 30))
        proc.wait(timeout=STOP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_flood(
    server_pid: int, url: str, seconds: int, connections: int, threads: int, cpu: int | None
) -> FloodRun:
    """The flood alone (its cost in server CPU), then wrk's readers for `seconds` under it."""
    with flooding(url, min(seconds, 5), cpu) as alone:
        before_alone = CpuSnapshot.take(server_pid)
    after_alone = CpuSnapshot.take(server_pid)
    with flooding(url, seconds, cpu) as done:
        before = CpuSnapshot.take(server_pid)
        readers = run_wrk(url, seconds, connections, threads, cpu)
        after = CpuSnapshot.take(server_pid)
    return FloodRun(
        readers,
        int(str(done["sent"])),
        int(str(done["redirects"])),
        int(str(done["others"])) + int(str(alone["others"])),
        float(str(done["seconds"])),
        _cpu_us_per_request(before, after, readers.requests),
        other_cpu_load(before, after),
        _cpu_us_per_request(before_alone, after_alone, int(str(alone["redirects"]))),
        int(str(alone["redirects"])),
    )


def _cpu_us_per_request(before: CpuSnapshot, after: CpuSnapshot, requests: int) -> float | None:
    if before.server is None or after.server is None or not requests:
        return None
    return (after.server - before.server) / requests * 1e6


def bench_server(kind: str, args: argparse.Namespace) -> ServerRun:
    with tempfile.TemporaryDirectory(prefix=f"suo-bench-{kind}-") as tmp:
        workdir = Path(tmp)
        server_cpu, load_cpu = (SERVER_CPU, LOAD_CPU) if args.pin else (None, None)
        with running_server(kind, workdir, server_cpu) as server:
            warm = run_wrk(server.url, args.warmup, args.connections, args.threads, load_cpu)
            before = CpuSnapshot.take(server.proc.pid)
            measured = run_wrk(server.url, args.duration, args.connections, args.threads, load_cpu)
            after = CpuSnapshot.take(server.proc.pid)
            flooded = None
            if kind != "bare" and args.flood:
                flooded = run_flood(
                    server.proc.pid,
                    server.url,
                    args.duration,
                    args.connections,
                    args.threads,
                    load_cpu,
                )
        wrk_results = [warm, measured] + ([flooded.readers] if flooded else [])
        for result in wrk_results:
            if result.errors:
                print(f"WARNING: {kind}: wrk saw {result.errors} errors", file=sys.stderr)
        if flooded is not None and flooded.others:
            print(f"WARNING: {kind}: {flooded.others} flood requests got no 302", file=sys.stderr)
        cpu_us = _cpu_us_per_request(before, after, measured.requests)
        run = ServerRun(
            kind,
            measured,
            sum(r.requests for r in wrk_results),
            len(wrk_results),
            cpu_us,
            other_cpu_load(before, after),
            flood=flooded,
        )
        if kind == "bare":
            return run
        stored, readers = count_clicks(workdir / DB_NAME)
        answered = server.stopped.get("answered")
        return replace(
            run,
            clicks=ClickCount(stored, readers, answered if isinstance(answered, int) else -1),
        )


def check_clicks(run: ServerRun, connections: int) -> bool:
    """Every redirect answered is stored exactly once, and the counts agree with wrk's."""
    assert run.clicks is not None
    c = run.clicks
    flooded = run.flood.redirects + run.flood.alone_redirects if run.flood else 0
    print(
        f"clicks recorded: {c.stored} of {run.requests} requests"
        + (f" and {flooded} flood requests" if run.flood else "")
    )
    if c.answered < 0:
        print("WARNING: the suo server did not report how many redirects it answered")
        return False
    readers = c.answered - flooded
    unread = readers - run.requests
    print(
        f"  the server answered {c.answered} redirects; wrk stops with up to one request per "
        f"connection in flight and does not count those ({unread:+d} here)"
    )
    ok = True
    if c.stored != c.answered:
        print(f"WARNING: {c.answered} redirects answered but {c.stored} clicks stored")
        ok = False
    if not 0 <= unread <= connections * run.wrk_runs:
        print(
            f"WARNING: wrk counted {run.requests} requests, the server answered {c.answered}: "
            f"more than {connections * run.wrk_runs} in flight cannot be"
        )
        ok = False
    if c.readers != readers:
        print(f"WARNING: {c.readers} of wrk's {readers} readers were classified human in WeChat")
        ok = False
    return ok


def best(runs: list[ServerRun]) -> ServerRun:
    return max(runs, key=lambda r: r.measured.requests_per_s)


def _cpu(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_report(runs: list[ServerRun], args: argparse.Namespace) -> None:
    print()
    print(
        f"wrk {args.threads} thread(s), {args.connections} connections, {args.duration}s "
        f"measured after {args.warmup}s warm-up, plain asyncio; best of {args.rounds} per server"
        + (f"; server pinned to CPU {SERVER_CPU}, wrk to CPU {LOAD_CPU}" if args.pin else "")
    )
    header = (
        f"{'server':<8}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}"
        f"{'other load':>12}   all runs (req/s)"
    )
    print(header)
    print("-" * len(header))
    rates: dict[str, float] = {}
    for kind in SERVERS:
        mine = [r for r in runs if r.kind == kind]
        top = best(mine)
        rates[kind] = top.measured.requests_per_s
        every = ", ".join(f"{r.measured.requests_per_s:,.0f}" for r in mine)
        print(
            f"{kind:<8}{top.measured.requests_per_s:>12,.0f}{top.measured.p50_ms:>9.2f}"
            f"{top.measured.p99_ms:>9.2f}{_cpu(top.cpu_us_per_request, '.1f'):>12}"
            f"{_cpu(top.other_cpu, '.0%'):>12}   {every}"
        )
    # Each round runs bare then suo back to back, so their ratio shares the machine's state;
    # the median over rounds is the figure that noise moves least.
    bare_runs = [r for r in runs if r.kind == "bare"]
    for kind in SERVERS[1:]:
        mine = [r for r in runs if r.kind == kind]
        per_round = [
            s.measured.requests_per_s / b.measured.requests_per_s
            for b, s in zip(bare_runs, mine, strict=True)
        ]
        ratio = statistics.median(per_round)
        verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
        print(
            f"{kind}/bare: {ratio:.3f}, median of per-round ratios "
            f"({', '.join(f'{r:.2f}' for r in per_round)}); best/best "
            f"{rates[kind] / rates['bare']:.3f} ({verdict} the {TARGET_RATIO}x target)"
        )
    print(
        "CPU us/req: server process, its threads and child processes; other load: CPU (in "
        "cores) used by neither the server nor wrk during the measured run"
    )
    if any(r.flood for r in runs):
        print_flood_report(runs)
    busiest = max((r.other_cpu or 0.0) for r in runs)
    if busiest > NOISY_OTHER_LOAD:
        print(
            f"WARNING: other processes kept up to {busiest:.0%} of a core busy during a run; "
            "expect noise, rerun on a quiet machine"
        )


def print_flood_report(runs: list[ServerRun]) -> None:
    """Ordinary readers under the flood against the same server's calm run just before."""
    print()
    print(
        f"flood: {FLOOD_RATE:.0f} made-up User-Agents/s of {FLOOD_UA_CHARS:,} characters, each "
        "never seen before, on the same link while wrk's readers measure again"
    )
    header = (
        f"{'server':<8}{'calm req/s':>12}{'flood req/s':>13}{'calm p99':>10}{'flood p99':>11}"
        f"{'CPU us/req':>12}{'flood CPU':>11}{'other load':>12}{'flood 302s/s':>14}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        f = run.flood
        if f is None:
            continue
        print(
            f"{run.kind:<8}{run.measured.requests_per_s:>12,.0f}{f.readers.requests_per_s:>13,.0f}"
            f"{run.measured.p99_ms:>10.2f}{f.readers.p99_ms:>11.2f}"
            f"{_cpu(run.cpu_us_per_request, '.1f'):>12}{_cpu(f.cpu_us_per_reader, '.1f'):>11}"
            f"{_cpu(run.other_cpu, '.0%'):>5} /{_cpu(f.other_cpu, '.0%'):>5}"
            f"{f.redirects / f.seconds:>14.0f}"
        )
    for kind in SERVERS[1:]:
        mine = [r for r in runs if r.kind == kind and r.flood is not None]
        if not mine:
            continue
        throughput = [r.flood.readers.requests_per_s / r.measured.requests_per_s for r in mine]
        p99 = [r.flood.readers.p99_ms / r.measured.p99_ms for r in mine]
        t, q = statistics.median(throughput), statistics.median(p99)
        flood_us = [
            r.flood.alone_us_per_request for r in mine if r.flood.alone_us_per_request is not None
        ]
        if flood_us:
            each = statistics.median(flood_us)
            print(
                f"{kind}: the flood alone costs the server {each:.0f} us of CPU per request "
                f"({', '.join(f'{x:.0f}' for x in flood_us)}), {FLOOD_RATE * each / 1e4:.1f}% "
                f"of its core: on a core of its own, readers keep "
                f"{1 - FLOOD_RATE * each / 1e6:.2f}x of their calm throughput"
            )
        verdict = "meets" if t >= FLOOD_THROUGHPUT_TARGET and q <= FLOOD_P99_TARGET else "BELOW"
        rounds_t = ", ".join(f"{x:.2f}" for x in throughput)
        rounds_q = ", ".join(f"{x:.2f}" for x in p99)
        print(
            f"{kind} under flood / calm: throughput {t:.2f}x ({rounds_t}; target >= "
            f"{FLOOD_THROUGHPUT_TARGET}x), p99 {q:.2f}x ({rounds_q}; target <= "
            f"{FLOOD_P99_TARGET}x): {verdict} the targets, median of rounds"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs per server, interleaved")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=len(os.sched_getaffinity(0)) >= 2,
        help=f"server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU} (default with 2+ CPUs)",
    )
    parser.add_argument(
        "--flood",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"after each suo/rules run, measure again under {FLOOD_RATE:.0f} new 8 KB UAs/s",
    )
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--flood-client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--flood-seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.flood_client is not None:
        _announce(flooding=True)
        _announce(**asyncio.run(flood(args.flood_client, args.flood_seconds)))
        return 0

    if args.serve is not None:
        # By hand (to profile, say): `--serve suo` prints the URL to load, stops on Ctrl-C.
        if args.workdir is not None:
            serve(args.serve, args.port, args.workdir)
        else:
            with tempfile.TemporaryDirectory(prefix="suo-bench-") as tmp:
                serve(args.serve, args.port, Path(tmp))
        return 0

    if shutil.which("wrk") is None:
        print(
            "wrk is not installed; install it (Debian/Ubuntu: apt-get install wrk) and run again.",
            file=sys.stderr,
        )
        return 2
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    if min(args.duration, args.warmup, args.rounds) < 1:
        parser.error("--duration, --warmup and --rounds must be at least 1")

    runs: list[ServerRun] = []
    for round_number in range(1, args.rounds + 1):
        for kind in SERVERS:
            print(f"round {round_number}/{args.rounds}: {kind} ...", end=" ", flush=True)
            run = bench_server(kind, args)
            other = _cpu(run.other_cpu, ".0%")
            print(f"{run.measured.requests_per_s:,.0f} requests/s (other load {other})")
            runs.append(run)
    print_report(runs, args)
    print()
    clicks_ok = True
    for run in runs:
        if run.clicks is not None:
            clicks_ok = check_clicks(run, args.connections) and clicks_ok
    return 0 if clicks_ok else 1


if __name__ == "__main__":
    sys.exit(main())

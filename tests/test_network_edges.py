"""A real `suo redirector` at the network's edges: idle connections that never send a byte,
at the usual 1,024 open-files limit, and malformed requests (issue 14).

Unless a test says otherwise the process runs with soft and hard open-files limits of 1,024,
as on a stock Linux box.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadStatusLine, LineTooLong

from suo.bodies import body_deadline
from suo.logs import MalformedRequests, NoiseCounter
from tests.conftest import free_port, process_config
from tests.test_cli import BROWSER_UA

FILES_LIMIT = 1024
IDLE_CONNECTIONS = 1_100
READY_TIMEOUT = 60.0
# Generous: a reader must be served within seconds, this only bounds a failing test.
READER_DEADLINE = 45.0


def _limit_open_files(soft: int, hard: int) -> Callable[[], None]:
    """What the child runs before exec: these open-files limits."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return limit


@dataclass
class Redirector:
    """One `suo redirector` process with its log file."""

    process: subprocess.Popen[bytes]
    log: Path
    port: int
    code: str

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_bytes(self) -> int:
        return self.log.stat().st_size


def _suo(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "suo.cli", "--config", str(cfg), *args]


@contextlib.contextmanager
def limited_redirector(
    tmp_path: Path, soft: int = FILES_LIMIT, hard: int = FILES_LIMIT
) -> Iterator[Redirector]:
    """A `suo redirector` started with these open-files limits (by default soft and hard both
    1,024: raising the soft limit to the hard one cannot help, only closing idle connections
    can), serving one short link; SIGTERM at the end."""
    port = free_port()
    cfg = process_config(tmp_path, port)
    shortened = subprocess.run(
        [*_suo(cfg, "shorten", "https://example.com/edges", "--json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    code = json.loads(shortened.stdout)["code"]
    log = tmp_path / "redirector.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            _suo(cfg, "redirector"),
            stdout=out,
            stderr=out,
            preexec_fn=_limit_open_files(soft, hard),
        )
    running = Redirector(process, log, port, code)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while "listening on" not in running.text():
            assert process.poll() is None, running.text()
            assert time.monotonic() < deadline, running.text()
            time.sleep(0.05)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def idle_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` TCP connections to `port` that never send a byte, opened one after another as
    a flood's clients would (a connect the full listen backlog holds up is left pending)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            socks.append(sock)
            sock.settimeout(0.5)
            with contextlib.suppress(TimeoutError):
                sock.connect(("127.0.0.1", port))
        yield socks
    finally:
        for sock in socks:
            sock.close()


async def reader_status(port: int, code: str, deadline: float) -> tuple[int, float]:
    """A reader's GET /code, tried again (as a browser's reload would) until `deadline`:
    its status and the seconds it took."""
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=5)
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        while time.monotonic() - started < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(
                    f"http://127.0.0.1:{port}/{code}",
                    headers={"User-Agent": BROWSER_UA},
                    allow_redirects=False,
                ) as resp:
                    return resp.status, time.monotonic() - started
            await asyncio.sleep(0.2)
    return 0, time.monotonic() - started


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def files_exhausted(redirector: Redirector) -> None:
    """Until the process holds (nearly) all the files its limit allows."""
    async with asyncio.timeout(READY_TIMEOUT):
        while open_files(redirector.process.pid) < FILES_LIMIT - 16:
            assert redirector.process.poll() is None, redirector.text()
            await asyncio.sleep(0.05)


@pytest.fixture
def redirector(tmp_path: Path) -> Iterator[Redirector]:
    with limited_redirector(tmp_path) as running:
        yield running


def test_a_serving_process_raises_its_open_files_limit_to_the_hard_limit(
    tmp_path: Path,
) -> None:
    with limited_redirector(tmp_path, soft=FILES_LIMIT, hard=4 * FILES_LIMIT) as running:
        limits = Path(f"/proc/{running.process.pid}/limits").read_text(encoding="utf-8")
        said = running.text()
    assert re.search(r"Max open files\s+4096\s+4096\s", limits), limits
    assert "open-files limit 4096" in said


async def test_a_reader_is_served_while_1100_idle_connections_hold_the_files(
    redirector: Redirector,
) -> None:
    with idle_connections(redirector.port, IDLE_CONNECTIONS):
        await files_exhausted(redirector)
        status, _ = await reader_status(redirector.port, redirector.code, READER_DEADLINE)
        said = redirector.text()
    assert status == 302, said[-3000:]
    # The operator reads why connections waited, in a line (not 1 MB/s of tracebacks).
    assert "cannot accept connections: Too many open files (open-files limit 1024)" in said
    assert "Traceback" not in said
    assert len(said.encode()) < 4_000, said[-3000:]


async def test_a_request_that_never_finishes_its_headers_is_closed(
    redirector: Redirector,
) -> None:
    """A slow client (slowloris) holds a connection only as long as an idle one: the idle
    timer runs until a whole request has arrived, whatever bytes trickle in before."""
    reader, writer = await asyncio.open_connection("127.0.0.1", redirector.port)
    try:
        writer.write(b"GET /" + redirector.code.encode() + b" HTTP/1.1\r\nHost: a\r\n")
        async with asyncio.timeout(READER_DEADLINE):
            while True:
                try:
                    writer.write(b"X-Slow: 1\r\n")  # never the blank line ending the headers
                    await writer.drain()
                    async with asyncio.timeout(0.5):
                        answer = await reader.read()
                except TimeoutError:
                    continue
                except ConnectionError:
                    answer = b""  # reset while a header was on its way: closed too
                break
        assert answer == b""  # closed, without an answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_request_body_that_stops_coming_gets_408_and_a_log_line(
    redirector: Redirector,
) -> None:
    """Headers whole, then the body stalls: the connection is closed after the idle timeout
    (5 s) with a 408, where aiohttp alone would wait for the body forever."""
    request = (
        b"POST /shorten HTTP/1.1\r\nHost: a\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nurl="
    )
    answer = await answer_to(redirector.port, request)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    said = redirector.text()
    assert "request body stopped coming (latest: POST /shorten, 4 bytes in 5 s)" in said, said


async def _serve_bodies(idle: float, total: float, work: float = 0.0) -> web.AppRunner:
    """A loopback app behind `body_deadline` whose handler echoes the body's length."""

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(work)  # what a handler does once the body is whole
        return web.Response(text=f"{len(body)} bytes")

    app = web.Application(middlewares=[body_deadline(idle, total)])
    app.router.add_post("/", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def _post_slowly(runner: web.AppRunner, chunks: list[bytes], gap: float) -> bytes:
    """POST `chunks` one every `gap` seconds (announcing 100 bytes), and what comes back
    before the server closes (the sending stops there)."""
    port = runner.addresses[0][1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        writer.write(
            b"POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 100\r\n\r\n"
        )
        for chunk in chunks:
            await asyncio.sleep(gap)
            writer.write(chunk)
            await writer.drain()

    sending = asyncio.create_task(send())
    answer = b""
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            while data := await reader.read(65_536):
                answer += data
    except ConnectionError:
        pass  # reset after its answer: the server did not read the rest
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return answer


@pytest.mark.parametrize(
    ("chunks", "gap", "idle", "work", "expected"),
    [
        # Steady, and longer in all than the idle timeout: served.
        ([b"x" * 10] * 10, 0.1, 0.3, 0.0, b"100 bytes"),
        # Whole, then the handler works longer than the idle timeout: served.
        ([b"x" * 100], 0.0, 0.3, 0.6, b"100 bytes"),
        # Pauses just under the idle timeout: served (bytes seen late are still bytes).
        ([b"x" * 50, b"x" * 50], 0.9, 1.0, 0.2, b"100 bytes"),
        # Half, then nothing: 408 once idle.
        ([b"x" * 50, b""], 0.5, 0.3, 0.0, b"408"),
        # Steady but past the whole allowance (3 s): 408.
        ([b"x"] * 100, 0.1, 0.3, 0.0, b"408"),
    ],
    ids=["steady", "whole-then-slow-handler", "pauses-under-idle", "stalled", "past-allowance"],
)
async def test_a_body_may_come_slowly_but_not_stop_or_take_forever(
    chunks: list[bytes], gap: float, idle: float, work: float, expected: bytes
) -> None:
    runner = await _serve_bodies(idle=idle, total=3.0, work=work)
    try:
        answer = await _post_slowly(runner, chunks, gap)
    finally:
        await runner.cleanup()
    if expected == b"408":
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"Connection: close" in answer
    else:
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(expected), answer


# What scanners and broken clients send, each on a connection of its own.
MALFORMED = (
    b"GET /x HTTP/1.1 and more\r\nHost: a\r\n\r\n",  # bad request line
    b"GET /x HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n",  # bad header
    b"GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",  # oversize header
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",  # oversize request line
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",  # TLS to an HTTP port
    # Garbage after a good request on a kept-alive connection (aiohttp logs this one apart).
    b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n\x00\x01\x02\x03\r\n\r\n",
)
MALFORMED_REQUESTS = 5_000


async def answer_to(port: int, request: bytes) -> bytes:
    """Everything the server says to `request` before it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(READY_TIMEOUT):
            return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_malformed_requests_get_400_and_leave_one_short_log_line(
    redirector: Redirector,
) -> None:
    before = redirector.log_bytes()
    limit = asyncio.Semaphore(32)
    answers: dict[int, int] = {}

    async def send(i: int) -> None:
        async with limit:
            answer = await answer_to(redirector.port, MALFORMED[i % len(MALFORMED)])
        assert len(re.findall(rb"HTTP/1\.[01] 400 ", answer)) == 1, answer[:200]
        answers[i % len(MALFORMED)] = answers.get(i % len(MALFORMED), 0) + 1

    await asyncio.gather(*(send(i) for i in range(MALFORMED_REQUESTS)))
    assert sum(answers.values()) == MALFORMED_REQUESTS
    # The process still serves readers, and said what happened in a line or two.
    status, _ = await reader_status(redirector.port, redirector.code, READER_DEADLINE)
    assert status == 302
    said = redirector.text()
    assert "Traceback" not in said
    assert " ERROR " not in said
    assert redirector.log_bytes() - before < 1_000


def test_noise_is_said_at_once_then_counted_into_one_line_per_interval() -> None:
    lines: list[tuple[int, str]] = []
    now = [100.0]
    counter = NoiseCounter(lambda n, latest: lines.append((n, latest)), 60.0, lambda: now[0])
    counter.occurred("first")
    for i in range(500):
        counter.occurred(f"then {i}")
    now[0] += 59.9
    counter.occurred("still within the minute")
    assert lines == [(1, "first")]
    now[0] += 0.1
    counter.occurred("a minute on")  # no loop to time it: the next occurrence says the rest
    assert lines == [(1, "first"), (502, "a minute on")]


async def test_the_rest_of_a_burst_is_said_when_its_interval_ends() -> None:
    lines: list[tuple[int, str]] = []
    said = asyncio.Event()

    def say(count: int, latest: str) -> None:
        lines.append((count, latest))
        said.set()

    counter = NoiseCounter(say, interval=0.05)
    for i in range(100):
        counter.occurred(f"request {i}")
    assert lines == [(1, "request 0")]
    said.clear()
    async with asyncio.timeout(READY_TIMEOUT):
        await said.wait()  # nothing else happens: the loop's timer says the other 99
    assert lines == [(1, "request 0"), (99, "request 99")]


def _record(exc: BaseException) -> logging.LogRecord:
    return logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s",
        ("203.0.113.9",),
        (type(exc), exc, exc.__traceback__),
    )


def test_a_handler_failure_keeps_its_traceback_while_malformed_requests_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet = MalformedRequests()
    bug = _record(ZeroDivisionError("a bug of ours"))
    assert quiet.filter(bug) and bug.levelno == logging.ERROR and bug.exc_info
    with caplog.at_level(logging.INFO, logger="suo.logs"):
        assert not quiet.filter(_record(BadStatusLine("GET /\x00")))
        assert not quiet.filter(_record(LineTooLong("header", 8190)))
    assert [r.getMessage() for r in caplog.records] == [
        "answered 1 malformed HTTP request(s) with 400 (latest: Bad status line 'GET /\\x00')"
    ]

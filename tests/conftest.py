"""Shared fixtures: a real database per test (a SQLite file, or a fresh PostgreSQL database
where a module lists both ENGINES), a fixed clock, a built `Suo`, messages.

Everything binds 127.0.0.1 port 0 (PostgreSQL: 127.0.0.1:5432); nothing reaches beyond loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import pytest
from aiohttp import web
from hypothesis import settings

from bot.config import Config, parse_config
from bot.model import ChatKind, ImageSource, IncomingMessage, Sender
from bot.urls import find_urls
from redirector.app import REDIRECTS, install_fast_path
from suo.app import Suo
from tests.fake_telegram import FakeBotApi
from tests.fake_wecom import FakeWeCom

REPO = Path(__file__).resolve().parents[1]
FIXED_NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
# A module setting `ENGINES = BOTH_ENGINES` runs each test that builds a store on both engines.
BOTH_ENGINES = ("sqlite", "postgresql")
# The development and CI server: trust auth on loopback; each test makes its own database.
POSTGRES = "postgresql://postgres@127.0.0.1:5432"

# The fuzz targets (tests/test_fuzz_*.py): 10,000 examples each in CI (CI=true, as CI services
# and .ci/run set it), the same ones every run (derandomized: a red CI reproduces anywhere);
# a quick 300 locally, where failing examples are kept in .hypothesis/ and tried first next
# time. HYPOTHESIS_PROFILE names one outright. No deadline: a shared CI box is no stopwatch.
settings.register_profile("ci", max_examples=10_000, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev")
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test pokes SQLite itself; run it on SQLite only"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    engines = getattr(metafunc.module, "ENGINES", None)
    if not engines or "engine" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("sqlite_only"):
        engines = ("sqlite",)
    metafunc.parametrize("engine", engines, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The storage engine under test: SQLite unless the module parametrizes it."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped after it."""
    asyncpg = pytest.importorskip("asyncpg", reason="PostgreSQL tests need asyncpg")
    try:
        admin = await asyncpg.connect(f"{POSTGRES}/test", timeout=5)
    except (OSError, asyncpg.PostgresError) as e:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 (user postgres, database test): {e}")
    name = f"suo_test_{secrets.token_hex(6)}"
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{POSTGRES}/{name}"
        finally:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await admin.close()


async def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows `sql` (written to suit both engines) reads from a test's database at `url`:
    for what no port returns, such as the raw clicks."""
    if url.startswith("postgresql://"):
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    async with aiosqlite.connect(url.removeprefix("sqlite:///")) as db, db.execute(sql) as cur:
        return [tuple(r) for r in await cur.fetchall()]


@pytest.fixture
def storage_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if engine == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'suo.db'}"


def free_port() -> int:
    """A loopback port free right now, for servers a test starts in another process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(url: str) -> None:
    """Until a process of a test's own answers `url` (its /healthz) with a 200."""
    async with aiohttp.ClientSession() as http:
        for _ in range(400):  # bounded: ~20 s for the process to start listening
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered")


def process_config(
    tmp_path: Path, port: int, extra: str = "", storage_url: str | None = None
) -> Path:
    """A TOML file for a `suo` process of a test's own: the redirector on 127.0.0.1:`port`,
    its database (a SQLite file in `tmp_path` unless `storage_url` names one) and spill file
    in `tmp_path`, then `extra` (more tables) verbatim."""
    path = tmp_path / "suo.toml"
    storage_url = storage_url or f"sqlite:///{tmp_path / 'suo.db'}"
    path.write_text(
        f"""
[server]
host = "127.0.0.1"
port = {port}
public_url = "http://127.0.0.1:{port}"
secret = "process-test"

[storage]
url = "{storage_url}"

[clicks]
spill_path = "{tmp_path / "spill.jsonl"}"
{extra}""",
        encoding="utf-8",
    )
    return path


class FakeClock:
    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(tmp_path: Path, storage_url: str) -> Config:
    base = parse_config(
        {
            "server": {"public_url": "https://suo.test", "secret": "test-secret"},
            "storage": {"url": storage_url},
            "clicks": {"spill_path": str(tmp_path / "spill.jsonl")},
        },
        env={},
    )
    return replace(base, console=replace(base.console, qr_dir=str(tmp_path / "qr")))


@pytest.fixture
async def suo(config: Config, clock: FakeClock) -> AsyncIterator[Suo]:
    app = await Suo.open(config, clock=clock)
    yield app
    await app.shutdown()


def group_message(
    text: str = "",
    *,
    chat: str = "g1",
    user: str = "alice",
    images: tuple[ImageSource, ...] = (),
    platform: str = "console",
) -> IncomingMessage:
    return IncomingMessage(
        platform=platform,
        chat_id=chat,
        chat_title=f"Group {chat}",
        chat_kind=ChatKind.GROUP,
        sender=Sender(user, user.title()),
        text=text,
        urls=find_urls(text),
        images=images,
    )


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """`app` served the way `Suo.start` serves it (the redirector's fast path on), on
    127.0.0.1 port 0; yields its base URL and cleans up (which flushes the click recorder)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        if REDIRECTS in app:
            install_fast_path(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def telegram_config(config: Config, api: FakeBotApi, **overrides: object) -> Config:
    """`config` with Telegram on, pointed at the fake Bot API `api` (its token and URLs)."""
    telegram = replace(
        config.telegram,
        token=api.token,
        api_base_url=api.base_url,
        file_base_url=api.file_base_url,
        **overrides,  # type: ignore[arg-type]
    )
    return replace(config, telegram=telegram)


def wecom_config(config: Config, fake: FakeWeCom, **overrides: object) -> Config:
    """`config` with the WeCom AI bot on, its callback crypto and group robots at `fake`, and
    its images and response_url (on 127.0.0.1) allowed."""
    wecom = replace(
        config.wecom,
        token=fake.token,
        encoding_aes_key=fake.encoding_aes_key,
        webhook_base_url=fake.url,
        **({"fetch_hosts": ("127.0.0.1",)} | overrides),  # type: ignore[arg-type]
    )
    return replace(config, wecom=wecom)


def image_of(data: bytes, name: str = "photo.jpg", size: int | None = None) -> ImageSource:
    async def load() -> bytes:
        return data

    return ImageSource(name, len(data) if size is None else size, load)

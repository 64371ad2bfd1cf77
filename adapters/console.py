"""A terminal group chat for trying the bot without any platform account.

Each line is a message from the current member; `/as NAME` switches member, `/photo PATH`
sends an image. Replies are printed and QR images saved to files whose paths are printed.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from bot.core import Core
from bot.model import ChatKind, ImageSource, IncomingMessage, Reply, Sender
from bot.urls import find_urls

log = logging.getLogger(__name__)

PLATFORM = "console"
MAX_LINE = 10_000


def _file_size(name: str) -> tuple[Path, int]:
    path = Path(name).expanduser()
    return path, path.stat().st_size


def _file_loader(path: Path) -> Callable[[], Awaitable[bytes]]:
    async def load() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return load


class ConsoleChat:
    def __init__(
        self,
        core: Core,
        *,
        group: str,
        member: str,
        qr_dir: Path,
        write: Callable[[str], None],
    ) -> None:
        self._core = core
        self._group = group
        self._member = member
        # Whoever runs the console is the operator: the starting member is the group's admin;
        # members switched to with /as are not (to try what members see).
        self._admin = member
        self._qr_dir = qr_dir
        self._write = write
        self._count = 0

    @property
    def prompt(self) -> str:
        return f"[{self._group}] {self._member}> "

    def greet(self) -> None:
        self._write(
            f"suo console group '{self._group}'. Type a message with a link, "
            "'/photo PATH' to send an image, '/as NAME' to switch member (you start as the "
            "group's admin), /help, /quit."
        )

    async def run(self, lines: AsyncIterator[str]) -> None:
        async for line in lines:
            if not await self.handle_line(line):
                break

    async def handle_line(self, line: str) -> bool:
        """Send one typed line; False when the user asked to leave."""
        line = line.rstrip("\r\n")
        if len(line) > MAX_LINE:
            self._write(f"(message cut to {MAX_LINE} characters)")
            line = line[:MAX_LINE]
        stripped = line.strip()
        if not stripped:
            return True
        if stripped in ("/quit", "/exit"):
            return False
        if stripped.startswith("/as"):
            name = stripped[3:].strip()
            if name:
                self._member = name[:64]
                self._write(f"(now speaking as {self._member})")
            else:
                self._write("usage: /as NAME")
            return True
        images: tuple[ImageSource, ...] = ()
        text = line
        if stripped.startswith("/photo"):
            try:
                parts = shlex.split(stripped[len("/photo") :])
            except ValueError:
                parts = []
            if not parts:
                self._write("usage: /photo PATH")
                return True
            try:
                path, size = await asyncio.to_thread(_file_size, parts[0])
            except OSError:
                self._write(f"(cannot read file: {parts[0]})")
                return True
            images = (ImageSource(path.name, size, _file_loader(path)),)
            text = ""
        self._count += 1
        message = IncomingMessage(
            platform=PLATFORM,
            chat_id=self._group,
            chat_title=self._group,
            chat_kind=ChatKind.GROUP,
            sender=Sender(self._member, self._member),
            text=text,
            urls=find_urls(text),
            images=images,
            is_admin=self._member == self._admin,
            message_id=str(self._count),
        )
        for reply in await self._core.handle(message):
            await self._show(reply)
        return True

    async def _show(self, reply: Reply) -> None:
        self._write("suo> " + reply.text.replace("\n", "\n     "))
        for image in reply.images:
            path = await asyncio.to_thread(self._save, self._qr_dir / image.filename, image.png)
            self._write(f"     {'QR' if image.kind == 'qr' else 'chart'}: {path}")

    @staticmethod
    def _save(path: Path, data: bytes) -> Path:
        """Write `data` at `path`, or beside it (`qr-2.png`, ...) when another image already
        has that name: a printed path keeps showing what it showed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path
        for number in range(2, 10_000):
            if not candidate.exists() or candidate.read_bytes() == data:
                break
            candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        candidate.write_bytes(data)
        return candidate


async def stdin_lines(prompt: Callable[[], str] | None = None) -> AsyncIterator[str]:
    """Lines typed on stdin; a daemon thread reads so the event loop never blocks on input."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    want_line = threading.Event()

    def reader() -> None:
        while True:
            want_line.wait()
            want_line.clear()
            if prompt is not None:
                sys.stdout.write(prompt())
                sys.stdout.flush()
            try:
                line = sys.stdin.readline()
            except (OSError, ValueError):
                line = ""
            loop.call_soon_threadsafe(queue.put_nowait, line or None)
            if not line:
                return

    threading.Thread(target=reader, name="console-stdin", daemon=True).start()
    while True:
        want_line.set()
        line = await queue.get()
        if line is None:
            return
        yield line

"""Click journals: each process appends every click to a local file of its own before the 302
leaves, so the kernel keeps it when the process is killed; files of dead processes are found here.

A journal is `<stem>.<pid>-<token><suffix>` beside the configured path, one JSON array per
line (`Entry`). Its process holds an flock on it while it lives: a file nobody holds belongs to
a dead process, and any live one may ingest and remove it. Spill files of earlier versions
(`<stem>[.<pid>]<suffix>`, one stored click as a JSON object per line) are read alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from bot.model import ClickClass

# A batch's lines are read in one pread of this much at most: a line is a few hundred bytes
# (the User-Agent is cut to 512 characters), so 500 lines fit many times over.
_READ_BYTES = 1 << 20
_OPEN_ATTEMPTS = 5


class Entry(NamedTuple):
    """One journal line: a click with its visitor already hashed (no IP ever reaches the
    disk); `klass` empty when the redirect did not need it, left to the ingest to classify."""

    id: int
    code: str
    ts_ms: int
    klass: str
    platform: str
    referrer_host: str
    visitor: str
    user_agent: str


_TYPES = (int, str, int, str, str, str, str, str)  # Entry's fields
_CLASSES = frozenset(("", *(c.value for c in ClickClass)))  # "": the ingest classifies
_new_entry = tuple.__new__  # a NamedTuple from a list, without its Python-level __new__


class Batch(NamedTuple):
    entries: list[Entry]
    end: int  # the offset just past the last line read
    unreadable: int  # lines skipped: torn by a full disk or a power loss


_quote = json.encoder.encode_basestring  # C: a JSON string, non-ASCII kept as is


def entry_line(entry: tuple[int, str, int, str, str, str, str, str]) -> bytes:
    """The entry as a JSON array and a newline, built on the redirect path: an f-string with
    the C string quoter costs 1 µs here, json.dumps with options 6 µs (an encoder per call)."""
    click_id, code, ts_ms, klass, platform, host, visitor, user_agent = entry
    return (
        f"[{click_id:d},{_quote(code)},{ts_ms:d},{_quote(klass)},{_quote(platform)},"
        f"{_quote(host)},{_quote(visitor)},{_quote(user_agent)}]\n"
    ).encode()


def _legacy_entry(d: dict[str, object]) -> Entry:
    """A click spilled by an earlier version (a stored `Click` as a JSON object)."""
    if "ts_ms" in d:
        ts_ms = int(str(d["ts_ms"]))
    else:  # spilled by a version that wrote ISO times
        ts_ms = round(datetime.fromisoformat(str(d["ts"])).timestamp() * 1000)
    click_id = d["id"]
    if isinstance(click_id, str):  # spilled by a version with text ids
        digest = hashlib.blake2b(click_id.encode(), digest_size=8).digest()
        click_id = int.from_bytes(digest, "big") >> 1
    fields = (d["code"], d["class"], d["platform"], d["referrer_host"], d["visitor"])
    code, klass, platform, host, visitor = map(str, fields)
    return Entry(int(str(click_id)), code, ts_ms, klass, platform, host, visitor, "")


def _is_entry(value: object) -> bool:
    """Whether a decoded line is an entry the store will take: a line that is not (a power
    loss can leave any bytes) must be skipped, or it would block the journal for good."""
    return type(value) is list and tuple(map(type, value)) == _TYPES and value[3] in _CLASSES


def parse_line(line: bytes) -> Entry:
    """Raises ValueError (or KeyError, TypeError) for a line that is not a whole entry."""
    value = json.loads(line)
    if isinstance(value, dict):
        entry = _legacy_entry(value)
        if entry.klass not in _CLASSES:
            raise ValueError("not a click class")
        return entry
    if not _is_entry(value):
        raise ValueError("not a journal entry")
    return Entry(*value)


def read_batch(fd: int, offset: int, max_lines: int) -> Batch:
    """Up to `max_lines` whole lines from `offset`; an unfinished last line stays unread."""
    data = os.pread(fd, _READ_BYTES, offset)
    *lines, rest = data.split(b"\n", max_lines)
    if not lines and len(data) == _READ_BYTES:  # no line end in a whole read: garbage
        return Batch([], offset + len(data), 1)
    # `rest` is what follows the batch's last line end: an unfinished line, or later lines.
    entries, unreadable = _parse_lines([line for line in lines if line.strip()])
    return Batch(entries, offset + len(data) - len(rest), unreadable)


def _parse_lines(lines: list[bytes]) -> tuple[list[Entry], int]:
    """The entries of whole lines: in one json.loads when none is torn (a quarter of the cost
    of one per line), else line by line."""
    try:
        values = json.loads(b"[" + b",".join(lines) + b"]")
        if all(map(_is_entry, values)):
            return [_new_entry(Entry, v) for v in values], 0
    except ValueError:
        pass
    entries: list[Entry] = []
    for line in lines:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            entries.append(parse_line(line))
    return entries, len(lines) - len(entries)


def journal_family(configured: Path) -> list[Path]:
    """Every journal (and earlier version's spill file) beside the configured path, live or
    dead, in name order."""
    stem, suffix = configured.stem, configured.suffix
    middle = re.compile(r"\d+(-[0-9a-f]+)?")
    derived = [
        path
        for path in configured.parent.glob(f"{stem}.*{suffix}")
        if middle.fullmatch(path.name[len(stem) + 1 : len(path.name) - len(suffix)])
    ]
    return sorted({configured, *derived} if configured.exists() else set(derived))


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def take_dead(path: Path) -> int | None:
    """Open and lock a journal nobody holds; None when it is gone or its process lives (the
    kernel drops a process's lock when it dies)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not _same_file(path, fd):  # another process ingested and removed it meanwhile
        os.close(fd)
        return None
    return fd


def remove_taken(path: Path, fd: int) -> None:
    """Remove an ingested journal before its lock goes, so nobody reads it again."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.close(fd)


class OwnJournal:
    """This process's journal: opened (and locked) on first use, appended to on the redirect
    path with one write() each, read back by the recorder's ingest."""

    def __init__(self, configured: Path, pid: int) -> None:
        self._configured = configured
        self._pid = pid
        self.path: Path | None = None
        self.fd: int | None = None
        self._torn = False  # a write failed midway: the next starts on a line of its own
        self.end = 0  # the file's size: only this process writes it
        self.synced = 0  # the size at the last fsync

    @property
    def name(self) -> str:
        assert self.path is not None  # noqa: S101 - asked only while open
        return self.path.name

    def open(self) -> None:
        """Open a fresh file; raises OSError when the directory takes none."""
        self._configured.parent.mkdir(parents=True, exist_ok=True)
        stem, suffix = self._configured.stem, self._configured.suffix
        for _ in range(_OPEN_ATTEMPTS):
            path = self._configured.with_name(f"{stem}.{self._pid}-{secrets.token_hex(4)}{suffix}")
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            # A replayer may have taken the empty file for a dead one's between open and lock.
            if _same_file(path, fd):
                self.path, self.fd, self._torn, self.end, self.synced = path, fd, False, 0, 0
                return
            os.close(fd)
        raise FileExistsError(f"no journal file of our own beside {self._configured}")

    def append(self, line: bytes) -> None:
        """One write(), no fsync; raises OSError (disk full...) with the line not whole."""
        if self.fd is None:
            raise FileNotFoundError("no journal open")
        if self._torn:
            line = b"\n" + line
        written = 0
        try:
            while written < len(line):
                written += os.write(self.fd, line[written:])
        except OSError:
            self._torn = self._torn or written > 0
            raise
        finally:
            self.end += written
        self._torn = False

    def sync(self) -> None:
        """fsync what was written: a power loss then costs only what came after."""
        if self.fd is not None:
            end = self.end
            os.fsync(self.fd)
            self.synced = end

    def close(self, *, remove: bool) -> None:
        """Let go of the file (and its lock); `remove` when every line in it is stored."""
        if self.fd is None or self.path is None:
            return
        if remove:
            remove_taken(self.path, self.fd)
        else:
            os.close(self.fd)
        self.path = self.fd = None

"""`suo backup PATH`: a consistent copy of the SQLite database, taken while suo runs.

SQLite's online backup API copies every page in one step, inside one read transaction: the
copy is the database as of one moment, and in WAL mode writers go on meanwhile. PostgreSQL is
backed up with its own tools (pg_dump; docs/operations.md).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import NamedTuple

# A checkpoint or a crash recovery in another process holds the lock briefly; wait it out.
_BUSY_SECONDS = 30.0


class BackupSummary(NamedTuple):
    links: int
    clicks: int
    schema_version: int


def backup_sqlite(source: Path, target: Path) -> BackupSummary:
    """Copy the database at `source` to `target` (replaced atomically if it exists), checked
    and in rollback-journal mode: one self-contained file to store or copy back."""
    if not source.is_file():
        raise FileNotFoundError(2, "No such database file", str(source))
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(source, timeout=_BUSY_SECONDS)) as db:
            with contextlib.closing(sqlite3.connect(partial)) as copy:
                db.backup(copy)  # pages=-1: all at once, one snapshot
                summary = _checked(copy)
            _sync_file(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)  # a failed copy leaves nothing that looks like one
    _sync_file(target.parent)
    return summary


def _checked(copy: sqlite3.Connection) -> BackupSummary:
    """Make the copy one file (no -wal beside it), check it, and count what it holds."""
    copy.execute("PRAGMA journal_mode=DELETE")
    (verdict,) = copy.execute("PRAGMA quick_check").fetchone()
    if verdict != "ok":
        raise sqlite3.DatabaseError(f"the copy failed its check: {verdict}")
    (links,) = copy.execute("SELECT COUNT(*) FROM links").fetchone()
    (clicks,) = copy.execute("SELECT COUNT(*) FROM clicks").fetchone()
    (version,) = copy.execute("PRAGMA user_version").fetchone()
    return BackupSummary(int(links), int(clicks), int(version))


def _sync_file(path: Path) -> None:
    """fsync a file, or a directory so a rename in it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""SIGBUS said in one line: a memory-mapped file cut short under the process (SQLite's WAL
index, the database's `-shm`, truncated, copied over or lost while suo runs) ends it with exit 3.

SQLite maps the `-shm` file into every process using a WAL database; when the file becomes
shorter than the mapping, the next access faults with SIGBUS, which SQLite cannot turn into an
error (sqlite.org/mmap.html, "an I/O error on a memory-mapped file cannot be caught by
SQLite"). Python's `signal.signal` cannot help either: its C handler only sets a flag and
returns, so the faulting instruction runs again and the process spins. The handler below is
installed with libc's signal() and leaves at once with `os._exit`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

EXIT_CODE = 3  # the CLI's "database or file error"
LINE = (
    b"suo: stopped by SIGBUS: a memory-mapped file was cut short under this process, most likely "
    b"the SQLite database's -shm or -wal file truncated, copied over or deleted while suo ran "
    b"(never touch a live database's -wal/-shm files; back up with `sqlite3 DB .backup`)\n"
)

_HANDLER_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int)


def _exit_with_line(signum: int) -> None:
    # Runs in the faulting thread, inside the signal: write and leave, nothing else.
    os.write(2, LINE)
    os._exit(EXIT_CODE)


def exit_in_one_line_on_sigbus() -> Any | None:
    """Install the SIGBUS handler for the rest of the process; returns the handler, which the
    caller keeps referenced for as long as it may run (None where there is no SIGBUS)."""
    if not hasattr(signal, "SIGBUS") or sys.platform == "win32":
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.signal.argtypes = [ctypes.c_int, _HANDLER_TYPE]
    libc.signal.restype = ctypes.c_void_p
    handler = _HANDLER_TYPE(_exit_with_line)
    libc.signal(signal.SIGBUS, handler)
    return handler

"""`suo redirector --workers N`: a parent that starts N redirector processes on one port
(SO_REUSEPORT), forwards SIGTERM/SIGINT to them and waits; it serves nothing itself.

A worker that exits on its own is not restarted: the parent stops the others and exits 1, so
the service manager (systemd `Restart=on-failure`) restarts the whole set, with its logs.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _stop_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn that has the kernel send the worker SIGTERM when the parent dies, even by
    kill -9 (its own session keeps it from the terminal's signals, not from this): no worker
    outlives its parent holding the port. Linux only; elsewhere the service manager's cgroup
    or process group does it."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


async def run_workers(command: Sequence[str], count: int) -> int:
    """Run `count` copies of `command` until a signal (0 when all stopped cleanly) or until
    one exits unasked (1)."""
    # Their own session: a terminal's Ctrl-C reaches only this parent, which forwards it once
    # (a second SIGINT would interrupt a worker's final click flush).
    preexec = _stop_with_parent(os.getpid())
    workers = [
        await asyncio.create_subprocess_exec(*command, start_new_session=True, preexec_fn=preexec)
        for _ in range(count)
    ]
    log.info("started %d redirector workers: pids %s", count, [w.pid for w in workers])
    asked = asyncio.Event()

    def forward(sig: signal.Signals) -> None:
        asked.set()
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(sig)

    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, forward, sig)
    try:
        exits = [asyncio.ensure_future(worker.wait()) for worker in workers]
        await asyncio.wait(exits, return_when=asyncio.FIRST_COMPLETED)
        died = not asked.is_set()
        if died:
            first = next(w for w in workers if w.returncode is not None)
            log.error(
                "worker pid %d exited with %s unasked: stopping the others",
                first.pid,
                first.returncode,
            )
            forward(signal.SIGTERM)
        codes = await asyncio.gather(*exits)
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
    return 1 if died or any(codes) else 0

"""Idle connections at the usual open-files limit: a real `suo redirector` whose soft and hard
limits are 1,024, flooded with connections that never send a byte; how long a reader then
waits for their 302, and how much the process logged meanwhile.

    python benchmarks/idle_connections.py [--connections 1100] [--deadline 60] [--after 20]

Prints the seconds from "every descriptor taken" to the reader's answer (or "not served" at
the deadline), and the log's size then and `--after` seconds later.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The test's process, flood and reader, so the figures are the test's scenario.
from tests.test_network_edges import (  # noqa: E402
    files_exhausted,
    idle_connections,
    limited_redirector,
    reader_status,
)


async def measure(connections: int, deadline: float, after: float) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="suo-idle-") as tmp,
        limited_redirector(Path(tmp)) as redirector,
        idle_connections(redirector.port, connections),
    ):
        await files_exhausted(redirector)
        status, seconds = await reader_status(redirector.port, redirector.code, deadline)
        at_answer = redirector.log_bytes()
        await asyncio.sleep(after)
        later = redirector.log_bytes()
    served = f"{status} after {seconds:.1f} s" if status else f"not served in {deadline:.0f} s"
    print(f"{connections} idle connections at 1,024 open files: reader {served}")
    print(f"log: {at_answer:,} bytes then, {later:,} bytes {after:.0f} s later")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1_100)
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds a reader tries")
    parser.add_argument("--after", type=float, default=20.0, help="seconds the log then grows")
    args = parser.parse_args()
    started = time.monotonic()
    asyncio.run(measure(args.connections, args.deadline, args.after))
    print(f"({time.monotonic() - started:.0f} s in all)")


if __name__ == "__main__":
    main()

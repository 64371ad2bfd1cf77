"""`suo export`'s CSV: a group's links, and its clicks per link and UTC day, as files an
operator takes to a spreadsheet or another tool. Column names are a contract (README).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.model import Group
from bot.storage import LinkDay, SharedLink

LINK_COLUMNS = (
    "code",
    "short_url",
    "url",
    "kind",
    "sharer",
    "created_at",
    "expires_at",
    "max_opens",
    "disabled",
)
CLICK_COLUMNS = ("code", "day_utc", "human", "previews", "bots", "unique_readers")


def _utc(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def write_links(out: TextIO, links: Sequence[SharedLink], public_url: str) -> None:
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(LINK_COLUMNS)
    for shared in links:
        link, rules = shared.link, shared.link.rules
        rows.writerow(
            (
                link.code,
                f"{public_url}/{link.code}",
                link.url,
                link.kind,
                shared.sharer_name or "",
                _utc(link.created_at),
                _utc(rules.expires_at),
                "" if rules.max_clicks is None else rules.max_clicks,
                "true" if link.disabled else "false",
            )
        )


def write_clicks(out: TextIO, days: Sequence[LinkDay]) -> None:
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(CLICK_COLUMNS)
    for d in days:
        rows.writerow((d.code, d.day.isoformat(), d.human, d.previews, d.bots, d.unique_readers))


def export_paths(out_dir: Path, group: Group) -> tuple[Path, Path]:
    """Named by the group's row id: chat ids may hold characters a file name should not."""
    return out_dir / f"group-{group.id}-links.csv", out_dir / f"group-{group.id}-clicks.csv"


def write_export(
    out: str, group: Group, links: Sequence[SharedLink], days: Sequence[LinkDay], public_url: str
) -> list[Path]:
    """Write both tables to two files in directory `out` (made if missing) and return their
    paths; `out` "-" writes them to stdout instead, links first, then one empty row, then the
    clicks, so a pipe still gets everything. Raises OSError (the CLI's exit 3)."""
    if out == "-":
        write_links(sys.stdout, links, public_url)
        sys.stdout.write("\n")
        write_clicks(sys.stdout, days)
        return []
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    links_path, clicks_path = export_paths(out_dir, group)
    # newline="": the csv module writes its own line ends (and quotes embedded ones).
    with links_path.open("w", encoding="utf-8", newline="") as f:
        write_links(f, links, public_url)
    with clicks_path.open("w", encoding="utf-8", newline="") as f:
        write_clicks(f, days)
    return [links_path, clicks_path]

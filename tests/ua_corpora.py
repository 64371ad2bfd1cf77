"""Real User-Agent strings we did not write, from installed packages (never fetched at run time).

Crawlers: the `instances` of monperrus' crawler-user-agents (MIT) and Matomo's bots.yml;
browsers: Matomo's device-detector fixtures (LGPL-3.0, shipped in the `device-detector` wheel).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any


@cache
def crawler_instances() -> tuple[str, ...]:
    """Every sample User-Agent of every pattern in crawler-user-agents."""
    from crawleruseragents import CRAWLER_USER_AGENTS_DATA

    entries: list[dict[str, Any]] = CRAWLER_USER_AGENTS_DATA
    return tuple(sorted({ua for e in entries for ua in e.get("instances", ()) if ua}))


def _matomo_fixtures() -> Path:
    import device_detector

    return Path(device_detector.__file__).parent / "tests" / "fixtures" / "upstream"


def _matomo_entries(path: Path) -> list[dict[str, Any]]:
    import yaml_rs

    loaded = yaml_rs.loads(path.read_text(encoding="utf-8"))
    return [e for e in loaded or () if isinstance(e, dict) and e.get("user_agent")]


@cache
def matomo_bots() -> tuple[str, ...]:
    return tuple(
        sorted({str(e["user_agent"]) for e in _matomo_entries(_matomo_fixtures() / "bots.yml")})
    )


@cache
def matomo_browsers() -> tuple[str, ...]:
    """User-Agents that Matomo's fixtures parse as a browser (phones, tablets, desktops, TVs)."""
    found: set[str] = set()
    for path in sorted(_matomo_fixtures().glob("*.yml")):
        for entry in _matomo_entries(path):
            client = entry.get("client")
            if isinstance(client, dict) and client.get("type") == "browser":
                found.add(str(entry["user_agent"]))
    return tuple(sorted(found))

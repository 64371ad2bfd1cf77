"""Our linkifier against a corpus we did not write: linkify-it's own fixtures.

Where our CJK rules don't apply, every answer must be linkify-it's (tests/data/linkify_it/).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from linkify_it import LinkifyIt

from bot.urls import find_links

FIXTURES = Path(__file__).parent / "data" / "linkify_it"
_COMMENT = re.compile(r"^%.*")

# Lines where the fixture and the linkify-it-py library we build on disagree; we give the
# library's answer (the line, and why the fixture says otherwise).
LIBRARY_OVER_FIXTURE = {
    # The fixture comes from upstream 5.x, which reads Unicode e-mail names; linkify-it-py 2.x
    # keeps ASCII names. E-mail addresses are never shortened here either way.
    "grå@grå.org",
    "grå2@grå.org",
    # An older upstream rule ("--" in a host); the newer links.txt ("Domains with multiple
    # dashes") and the library accept it.
    "http://a.b--c.de/   % `--` disabled, because collision possible",
}


def read_fixture(name: str) -> list[tuple[int, str, str]]:
    """(line number, text, expected link) as linkify-it-py's own test reads the file."""
    lines = [line.rstrip() for line in (FIXTURES / name).read_text("utf-8").splitlines()]
    cases = []
    skip_next = False
    for index, raw in enumerate(lines):
        if skip_next:
            skip_next = False
            continue
        line = _COMMENT.sub("", raw)
        following = _COMMENT.sub("", lines[index + 1]) if index + 1 < len(lines) else ""
        if not line.strip():
            continue
        if following.strip():
            cases.append((index + 1, line, following))
            skip_next = True
        else:
            cases.append((index + 1, line, line))
    return cases


def library() -> LinkifyIt:
    # The options linkify-it-py's fixture test uses for links.txt (and ours use).
    return LinkifyIt(options={"fuzzy_ip": True})


LINKS = read_fixture("links.txt")
NOT_LINKS = read_fixture("not_links.txt")


def test_the_vendored_corpus_is_whole() -> None:
    assert len(LINKS) >= 115
    assert len(NOT_LINKS) >= 20


@pytest.mark.parametrize(("number", "line", "expected"), LINKS, ids=[str(c[0]) for c in LINKS])
def test_links_are_found_as_linkify_it_finds_them(number: int, line: str, expected: str) -> None:
    ours = [link.raw for link in find_links(line)]
    theirs = [match.raw for match in library().match(line) or ()]
    assert ours == theirs, f"line {number}"
    if line not in LIBRARY_OVER_FIXTURE:
        assert ours[:1] == [expected], f"line {number}"


@pytest.mark.parametrize(("number", "line", "_"), NOT_LINKS, ids=[str(c[0]) for c in NOT_LINKS])
def test_not_links_stay_text(number: int, line: str, _: str) -> None:
    ours = [link.raw for link in find_links(line)]
    if line in LIBRARY_OVER_FIXTURE:
        assert ours == [match.raw for match in library().match(line) or ()]
    else:
        assert ours == [], f"line {number}"

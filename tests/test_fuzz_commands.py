"""Fuzz: any text a member sends parses without failing; a command no feature declares is
answered as unknown, and no command, known or not, ends in the bot's apology."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import ParsedCommand, parse_command
from bot.i18n import translate
from suo.app import Suo
from tests.conftest import group_message
from tests.fuzzing import chat_text

# Every command a feature declares, and names no feature declares.
_NAMES = st.sampled_from(
    ("short", "qr", "stats", "top", "mine", "digest", "settings", "live", "delete", "bind")
) | st.text(st.characters(exclude_categories=("Z", "C")), min_size=1, max_size=12)


def _assert_parsed_as_written(text: str, addressed: bool) -> ParsedCommand | None:
    parsed = parse_command(text, bare=addressed)
    if parsed is None:
        assert not addressed or not text.strip()
        return None
    assert parsed.name and parsed.name == parsed.name.lower()
    assert not any(c.isspace() for c in parsed.name)
    if parsed.slashed:
        assert text.strip().startswith(("/", "／"))
    else:
        assert addressed  # a bare word is a command only in a message addressed to the bot
    return parsed


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=_NAMES, args=chat_text, slash=st.booleans(), admin=st.booleans(), addressed=st.booleans()
)
async def test_any_command_is_answered_and_an_unknown_one_is_called_unknown(
    suo: Suo, name: str, args: str, slash: bool, admin: bool, addressed: bool
) -> None:
    text = f"{'/' if slash else ''}{name} {args}"
    parsed = _assert_parsed_as_written(text, addressed)
    message = replace(group_message(text), is_admin=admin, addressed=addressed)
    replies = [r.text for r in await suo.core.handle(message)]
    apologies = {translate(lang, "internal_error") for lang in ("zh-CN", "en")}
    assert apologies.isdisjoint(replies)
    if parsed is None or not parsed.slashed or parsed.addressed_to:
        return
    if suo.core.router.route(parsed.name) is None:
        unknown = {
            translate(lang, "unknown_command", command=parsed.name[:32])
            for lang in ("zh-CN", "en")
        }
        assert len(replies) == 1 and replies[0] in unknown

"""Fuzz: any User-Agent, real or mangled, gets a known class and platform, whatever its case
or length, so a reader's click is always counted somewhere the dashboard shows."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from bot.model import ClickClass
from redirector.classify import MATCHED_CHARS, classify_user_agent, device_os
from tests.fuzzing import chat_text
from tests.ua_corpora import crawler_instances, matomo_browsers

# The platforms the dashboard and digests name (redirector.classify._PLATFORMS), and "other".
HUMAN_PLATFORMS = {
    "wecom", "wechat", "qq", "alipay", "dingtalk", "lark", "weibo", "douyin", "telegram", "ios",
    "android", "desktop", "other",
}  # fmt: skip
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
# Real browsers (every seventh of Matomo's fixtures: all the engines and apps, fewer
# duplicates) and crawlers.
_REAL = matomo_browsers()[::7] + crawler_instances()


def _spliced(choice: int, text: str) -> str:
    """A real User-Agent (`choice` picks it) with `text` spliced in, or only the text, and
    sometimes repeated past the characters we match: one integer, one draw."""
    choice, index = divmod(choice, len(_REAL))
    real = _REAL[index]
    choice, at = divmod(choice, len(real) + 1)
    ua = ("" if choice % 5 == 0 else real[:at]) + text + real[at:]
    return ua * (MATCHED_CHARS // max(1, len(ua)) + 2 if choice % 7 == 0 else 1)


user_agents = st.builds(_spliced, st.integers(0, 2**64), chat_text)


@given(user_agents)
def test_every_user_agent_gets_a_known_class_and_platform_whatever_its_case(ua: str) -> None:
    verdict = classify_user_agent(ua)
    match verdict:
        case (ClickClass.PREVIEW, "preview") | (ClickClass.BOT, "bot"):
            pass
        case (ClickClass.HUMAN, platform):
            assert platform in HUMAN_PLATFORMS
        case _:
            raise AssertionError(f"unknown verdict {verdict!r}")
    # "MicroMessenger" or "MICROMESSENGER": the same reader on the same app.
    assert classify_user_agent(ua.translate(_ASCII_UPPER)) == verdict
    assert device_os(ua) in ("ios", "android", "other")

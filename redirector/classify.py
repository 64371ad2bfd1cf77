"""Who is asking for a short link: a person, a link-preview fetcher or a bot, and on what.

Bots are found with isbot's maintained patterns (the `is-bot` package); previewers and the
platforms of the chat apps we serve are ours. Verdicts are cached per User-Agent.
"""

from __future__ import annotations

import re
from functools import lru_cache

from is_bot import Bots

from bot.model import ClickClass

# Only the start of a User-Agent is matched: real ones stay under 450 characters, and the
# bot patterns cost time in proportion to the length (about 1.8 ms for 512 characters).
MATCHED_CHARS = 512
# Distinct User-Agents whose verdict is kept: a day's readers of a busy group fit many times
# over; a flood of made-up ones only pushes out the least recently seen.
CACHED_VERDICTS = 8192

# Link-preview fetchers: a chat app or mail client unfurling a link someone posted. Shown
# apart from humans, never counted as readers. Checked before the bot list, which calls most
# of them bots. Not "Line/", "Viber" or "Skype": those name the apps' in-app browsers.
_PREVIEW = re.compile(
    r"TelegramBot|WhatsApp|Slackbot-LinkExpanding|Slack-ImgProxy|Discordbot|Twitterbot"
    r"|facebookexternalhit|Facebot|meta-externalhit|LinkedInBot|SkypeUriPreview"
    r"|MicrosoftPreview|BingPreview|Snap ?URL ?Preview|vkShare|redditbot|Pinterestbot"
    r"|Iframely|Embedly|MetaInspector|KakaoTalk-Scrap|Mastodon|Bluesky|Google-PageRenderer",
    re.IGNORECASE,
)
# A browser engine or browser product token. Every browser people read in sends one (the chat
# apps' in-app browsers included); HTTP libraries, command-line tools (curl, Wget, HTTPie),
# Android's bare Dalvik client and scripts do not, and are not readers whatever the list says.
_BROWSER = re.compile(
    r"Mozilla/|Opera|AppleWebKit|Gecko/|Presto/|Trident/|UCWEB|UCBrowser|NetFront"
    r"|Lynx/|Links \(|ELinks|w3m/|Dillo/",
    re.IGNORECASE,
)
_BOTS = Bots()
# Tokens of the in-app browsers we serve that the bot patterns misread, removed before the bot
# check only: Alipay's "AlipayDefined(nt:WIFI,ws:390|780|3.0)" (isbot takes any "|" for a bot)
# and WeChat Android's "Process/tools" (its web process; isbot takes "tools" for a bot).
_APP_TOKENS = re.compile(r"AlipayDefined\([^)]*\)|Process/tools\w*", re.IGNORECASE)
# Order matters: WeCom's UA also says MicroMessenger, WeChat's X5 UA also says MQQBrowser.
_PLATFORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("wecom", re.compile(r"wxwork", re.I)),
    ("wechat", re.compile(r"MicroMessenger", re.I)),
    ("qq", re.compile(r"\bQQ/|QQTheme", re.I)),
    ("alipay", re.compile(r"AlipayClient", re.I)),
    ("dingtalk", re.compile(r"DingTalk", re.I)),
    ("lark", re.compile(r"Lark|Feishu", re.I)),
    ("weibo", re.compile(r"Weibo", re.I)),
    ("douyin", re.compile(r"aweme|BytedanceWebview", re.I)),
    ("telegram", re.compile(r"Telegram", re.I)),
    ("ios", re.compile(r"iPhone|iPad|iPod", re.I)),
    ("android", re.compile(r"Android", re.I)),
    ("desktop", re.compile(r"Windows NT|Macintosh|X11|CrOS", re.I)),
)


def classify_user_agent(user_agent: str) -> tuple[ClickClass, str]:
    """(class, platform) for a User-Agent string; platform is "preview" or "bot" for those
    classes, and "other" for a person on a platform we do not name."""
    return _classify(user_agent[:MATCHED_CHARS])


@lru_cache(maxsize=CACHED_VERDICTS)
def _classify(user_agent: str) -> tuple[ClickClass, str]:
    if _PREVIEW.search(user_agent):
        return ClickClass.PREVIEW, "preview"
    if not _BROWSER.search(user_agent) or _BOTS.is_bot(_APP_TOKENS.sub("", user_agent)):
        return ClickClass.BOT, "bot"
    for platform, pattern in _PLATFORMS:
        if pattern.search(user_agent):
            return ClickClass.HUMAN, platform
    return ClickClass.HUMAN, "other"


_IOS = re.compile(r"iPhone|iPad|iPod", re.I)
_ANDROID = re.compile(r"Android", re.I)


def device_os(user_agent: str) -> str:
    """ "ios", "android" or "other": which steps the open-in-browser guide shows."""
    if _IOS.search(user_agent):
        return "ios"
    if _ANDROID.search(user_agent):
        return "android"
    return "other"

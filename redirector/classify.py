"""Who is asking for a short link: a person, a link-preview fetcher or a bot, and on what.

Pure functions of the request's User-Agent, cached because the same UAs repeat all day.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.model import ClickClass

# Link-preview fetchers: a chat app unfurling a link someone posted. Shown apart from humans.
# Not "Line/", "Viber" or "Skype": those name the apps' in-app browsers, where people read.
_PREVIEW = re.compile(
    r"TelegramBot|WhatsApp|Slackbot-LinkExpanding|Slack-ImgProxy|Discordbot|Twitterbot"
    r"|facebookexternalhit|Facebot|LinkedInBot|SkypeUriPreview|vkShare|redditbot"
    r"|Pinterestbot|Iframely|Embedly|MetaInspector|KakaoTalk-Scrap|Snap URL Preview"
    r"|Mastodon|Bluesky|Google-PageRenderer",
    re.IGNORECASE,
)
# Crawlers, HTTP libraries and headless browsers. curl and Wget are not here: they are tools a
# person types a link into (see _CLI), unlike libraries that scripts run unattended.
_BOT = re.compile(
    r"bot\b|crawl|spider|slurp|Bytespider|Baiduspider|YandexBot|Sogou|360Spider|HeadlessChrome"
    r"|PhantomJS|python-requests|python-urllib|aiohttp|httpx|Go-http-client|okhttp"
    r"|Java/|libwww|Apache-HttpClient|node-fetch|axios|wrk|ApacheBench|Scrapy|monitor|Uptime"
    r"|Lighthouse|Puppeteer|Playwright|Selenium|^$",
    re.IGNORECASE,
)
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
    ("cli", re.compile(r"^(?:curl|Wget|HTTPie)/", re.I)),
)


@lru_cache(maxsize=4096)
def classify_user_agent(user_agent: str) -> tuple[ClickClass, str]:
    """(class, platform) for a User-Agent string; platform is "other" when unknown."""
    if _PREVIEW.search(user_agent):
        return ClickClass.PREVIEW, "preview"
    if _BOT.search(user_agent):
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

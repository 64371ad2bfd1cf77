"""The web page at `/` of the redirector: shorten a link, read QR photos; and styled error pages.

Links made here belong to the `web` group, or to a chat's group through a signed link from the
chat `web` command (bot/web.py). Chat's rules, refusals and risk labels apply unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.typedefs import Middleware
from multidict import MultiDictProxy

from bot.admission import risk_label
from bot.clock import Clock
from bot.config import Config
from bot.errors import UserError
from bot.i18n import translate
from bot.limits import CreationLimiter
from bot.links import Shortener, ShortLink
from bot.model import Group
from bot.photos import ScannedCode, scan_image
from bot.policy import IN_APP, PLATFORM_LABELS, parse_platforms, platform_list, platform_name
from bot.settings import (
    LinkOptions,
    describe_rules,
    parse_duration,
    parse_max,
    parse_switch_or_platforms,
)
from bot.storage import Groups
from bot.urls import find_urls
from bot.web import WebLinks, WebPass
from redirector.app import REDIRECTS
from redirector.pages import TEMPLATES, page_lang, render_error

log = logging.getLogger(__name__)

WEB_PLATFORM = "web"
WEB_CHAT = "web"
MAX_PHOTOS = 10
_CSRF_COOKIE = "suo_csrf"
_KEY_COOKIE = "suo_web_key"
_EXPIRY_CHOICES = ("1h", "1d", "7d", "30d")
_MAX_FIELD = 8192  # a form's text field; URLs are capped at links.max_url_length anyway
_HEADERS = {
    "Cache-Control": "no-store",
    # A `?g=` token is in the URL: no referrer may carry it to another site. (`no-referrer`
    # would also make Chromium send `Origin: null` with the page's own forms.)
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
}

# Templates read these as `t.key`, so no key may share a name with a dict method.
_WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "快缩短网址",
        "tagline": "生成短链接 · 扫描二维码 · 防红引导",
        "switch": "English",
        "group_note": "在这里生成的链接属于群「%(group)s」，遵守本群的规则。",
        "group_member_note": "只有群管理员可以设置单个链接的规则；本群默认规则照常生效。",
        "shorten_title": "生成短链接",
        "url_label": "网址",
        "url_placeholder": "粘贴要缩短的链接",
        "platforms_title": "允许访问的平台",
        "platforms_hint": "都不选：按默认（%(default)s）。",
        "antired_title": "防红引导",
        "antired_hint": (
            "在所选聊天应用里打开时，先显示“请在浏览器中打开”的说明页，避免链接被拦截。"
        ),
        "antired_default": "默认（%(default)s）",
        "antired_on": "所有聊天应用",
        "antired_off": "关闭",
        "antired_some": "仅以下应用：",
        "expiry_title": "有效期",
        "expiry_default": "默认（%(default)s）",
        "expiry_never": "永久",
        "expiry_1h": "1 小时",
        "expiry_1d": "1 天",
        "expiry_7d": "7 天",
        "expiry_30d": "30 天",
        "max_title": "最多打开次数",
        "max_placeholder": "不限",
        "options_title": "链接规则（可选）",
        "shorten_button": "生成短链接",
        "result_title": "短链接",
        "result_reused": "这个链接已经有短链接，点击会累计。",
        "copy_button": "复制",
        "copied": "已复制",
        "copy_failed": "无法自动复制，请长按链接手动复制",
        "download_qr": "下载二维码",
        "qr_alt": "短链接的二维码",
        "target": "目标网址",
        "scan_title": "扫描二维码 / 上传二维码",
        "scan_hint": (
            "拍照或选择含二维码的图片（可多张，共 %(mb)s MB 以内），识别其中每个码，"
            "并为网址生成短链接。"
        ),
        "camera_button": "拍照扫码",
        "gallery_button": "从相册选择",
        "scan_button": "识别",
        "photos_chosen": "已选择 %(count)s 张图片",
        "scan_results": "识别结果",
        "photo": "图片 %(index)s",
        "found": "找到 %(count)s 个二维码",
        "none_found": "没有找到二维码。请拍清楚一些，让二维码占满画面再试。",
        "payment_warning": (
            "⚠️ 这是收款码：扫码付款的钱会进发码人的账户。「扫码领红包」是常见骗局，"
            "请勿扫码付款。未生成短链接。"
        ),
        "no_url": "不是网址，未生成短链接。",
        "no_photo": "请先选择或拍摄一张图片。",
        "too_many_photos": "一次最多识别 %(count)s 张图片。",
        "upload_too_large": "上传的图片太大（共 %(mb)s MB 以内），请压缩或少选几张。",
        "url_missing": "请先粘贴一个网址。",
        "rate_limited": "操作太频繁了，请 %(seconds)s 秒后再试。",
        "refused_title": "页面已过期",
        "refused": "请刷新页面后再提交一次。",
        "private_title": "这是私有服务",
        "private": "请使用运营者给你的访问链接，或在群里发送 /web 获取链接。",
        "token_title": "网页链接无效或已过期",
        "token": "请在群里发送 /web 或 /网页，获取新的链接。",
        "home": "返回首页",
        "footer": "短链接会记录打开次数（区分真人、链接预览和机器人），不记录 IP 地址。",
    },
    "en": {
        "title": "suo.run short links",
        "tagline": "Short links · QR codes · open-in-browser guide",
        "switch": "中文",
        "group_note": "Links made here belong to the group “%(group)s” and follow its rules.",
        "group_member_note": (
            "Only the group's admins can set one link's rules; the group's own rules apply."
        ),
        "shorten_title": "Make a short link",
        "url_label": "Link",
        "url_placeholder": "Paste the link to shorten",
        "platforms_title": "Where it may open",
        "platforms_hint": "None chosen: the default (%(default)s).",
        "antired_title": "Open-in-browser guide",
        "antired_hint": (
            "Readers in the chosen chat apps first see a page explaining how to open the link "
            "in their browser, so the app does not block it."
        ),
        "antired_default": "Default (%(default)s)",
        "antired_on": "Every chat app",
        "antired_off": "Off",
        "antired_some": "Only these apps:",
        "expiry_title": "Expires",
        "expiry_default": "Default (%(default)s)",
        "expiry_never": "Never",
        "expiry_1h": "in 1 hour",
        "expiry_1d": "in 1 day",
        "expiry_7d": "in 7 days",
        "expiry_30d": "in 30 days",
        "max_title": "Max opens",
        "max_placeholder": "no limit",
        "options_title": "Link rules (optional)",
        "shorten_button": "Shorten",
        "result_title": "Short link",
        "result_reused": "This link already had a short link; clicks add up.",
        "copy_button": "Copy",
        "copied": "Copied",
        "copy_failed": "Could not copy; press and hold the link to copy it",
        "download_qr": "Download QR code",
        "qr_alt": "QR code of the short link",
        "target": "Destination",
        "scan_title": "Scan or upload a QR code",
        "scan_hint": (
            "Take or choose photos with QR codes (several at once, %(mb)s MB in all): every "
            "code in them is read, and links get a short link."
        ),
        "camera_button": "Take a photo",
        "gallery_button": "Choose photos",
        "scan_button": "Read codes",
        "photos_chosen": "%(count)s photo(s) chosen",
        "scan_results": "What the photos hold",
        "photo": "Photo %(index)s",
        "found": "%(count)s QR code(s) found",
        "none_found": "No QR code found. Try a sharper photo with the code filling the frame.",
        "payment_warning": (
            '⚠️ This is a payment code: scanning it pays whoever posted it. "Scan to get a red '
            'packet" is a classic scam. Not shortened.'
        ),
        "no_url": "Not a link: nothing to shorten.",
        "no_photo": "Choose or take a photo first.",
        "too_many_photos": "At most %(count)s photos at once.",
        "upload_too_large": (
            "The upload is too large (%(mb)s MB in all): send smaller or fewer photos."
        ),
        "url_missing": "Paste a link first.",
        "rate_limited": "Too many requests; try again in %(seconds)s s.",
        "refused_title": "This page has expired",
        "refused": "Reload the page and send the form again.",
        "private_title": "This service is private",
        "private": "Use the address its operator gave you, or send /web in your group.",
        "token_title": "This web link is invalid or has expired",
        "token": "Send /web in the group to get a new link.",
        "home": "Go to the start page",
        "footer": (
            "Short links count their opens (people, link previews and bots apart); IP "
            "addresses are not stored."
        ),
    },
}


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who is at the page: the group links go to, as whom, and in which language."""

    lang: str
    group: Group
    sharer_id: int | None  # the member of a chat group; None on the `web` group
    may_set_rules: bool  # the `web` group's readers own their links; a chat's admins only
    group_token: str  # the `?g=` token, carried by the forms; "" on the `web` group
    address: str


@dataclass(frozen=True, slots=True)
class Chosen:
    """The form's link rules as sent, to show them again with an error."""

    url: str = ""
    platforms: frozenset[str] = frozenset()
    antired: str = "default"
    antired_apps: frozenset[str] = frozenset()
    expires: str = ""
    max_opens: str = ""


@dataclass(frozen=True, slots=True)
class ShownLink:
    """A short link as the page shows it."""

    code: str
    short_url: str
    target_url: str
    reused: bool
    risk: str
    rules: str


@dataclass(frozen=True, slots=True)
class ShownCode:
    kind: str
    text: str
    payment: bool
    link: ShownLink | None
    note: str  # a refusal, or "not a link"


@dataclass(frozen=True, slots=True)
class ShownPhoto:
    name: str
    error: str = ""
    codes: tuple[ShownCode, ...] = ()


@dataclass(slots=True)
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    photos: list[tuple[str, bytes]] = field(default_factory=list)
    too_large: bool = False
    too_many: bool = False


class FormGuard:
    """CSRF protection: a random cookie, and in each form an HMAC of it under the server
    secret (a key of this process's own without one), plus the browser's word on where the
    form was sent from (Origin, Sec-Fetch-Site) when it gives one.

    The signed token works in every browser, with no JavaScript and no server state; the
    header check refuses cross-site posts outright in the browsers that send those headers.
    Without a secret, forms loaded before a restart (or from another process) are refused
    once and work after a reload."""

    def __init__(self, secret: str) -> None:
        seed = secret.encode() or secrets.token_bytes(32)
        self._key = hashlib.sha256(b"suo web form\0" + seed).digest()

    def token_for(self, cookie: str) -> str:
        return hmac.new(self._key, cookie.encode(), hashlib.sha256).hexdigest()

    def new_cookie(self) -> str:
        return secrets.token_urlsafe(18)

    def allows(self, request: web.BaseRequest, token: str) -> bool:
        if not _same_origin(request):
            return False
        cookie = request.cookies.get(_CSRF_COOKIE, "")
        if not cookie or not token:
            return False
        return hmac.compare_digest(self.token_for(cookie), token)


def _same_origin(request: web.BaseRequest) -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return True  # older browsers; the signed token still has to match
    return urlsplit(origin).netloc.lower() == request.host.lower()


class WebPage:
    def __init__(
        self,
        config: Config,
        store: Groups,
        shortener: Shortener,
        links: WebLinks,
        clock: Clock,
        address_of: Callable[[web.BaseRequest], str],
    ) -> None:
        self._config = config.web
        self._public = urlsplit(config.server.public_url)
        self._store = store
        self._shortener = shortener
        self._links = links
        self._clock = clock
        self._address_of = address_of
        self._guard = FormGuard(config.server.secret)
        self._limiter = CreationLimiter(
            clock,
            per_member=config.web.per_ip_per_minute,
            per_group=config.web.total_per_minute,
            window=timedelta(minutes=1),
        )
        self._web_group_id: int | None = None
        key = config.web.access_token
        self._access_cookie = hashlib.sha256(b"suo web access\0" + key.encode()).hexdigest()

    # --- who is here ---------------------------------------------------------------------

    async def _web_group(self, lang: str) -> Group:
        if self._web_group_id is not None:
            group = await self._store.get_group(self._web_group_id)
            if group is not None:
                return group
        group = await self._store.upsert_group(WEB_PLATFORM, WEB_CHAT, "Web", lang)
        self._web_group_id = group.id
        return group

    async def _visitor(
        self, request: web.BaseRequest, values: MultiDictProxy[Any] | dict[str, str]
    ) -> Visitor | web.Response:
        lang = page_lang(
            request.headers.get(hdrs.ACCEPT_LANGUAGE, ""),
            str(values.get("lang") or request.query.get("lang", "")),
        )
        address = self._address_of(request)
        token = str(values.get("g") or request.query.get("g", ""))
        if token:
            granted = self._links.verify(token, self._clock())
            group = await self._group_of(granted)
            if granted is None or group is None:
                return self._message(403, lang, "token_title", "token")
            return Visitor(
                lang,
                group,
                granted.member_id,
                may_set_rules=False,  # a copied link is not an admin's /short (bot/web.py)
                group_token=token,
                address=address,
            )
        if self._config.access_token and not self._has_access(request):
            return self._message(403, lang, "private_title", "private")
        group = await self._web_group(lang)
        return Visitor(lang, group, None, True, "", address)

    async def _group_of(self, granted: WebPass | None) -> Group | None:
        if granted is None:
            return None
        return await self._store.get_group(granted.group_id)

    def _has_access(self, request: web.BaseRequest) -> bool:
        key = request.query.get("key", "")
        if key and hmac.compare_digest(key.encode(), self._config.access_token.encode()):
            return True
        cookie = request.cookies.get(_KEY_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self._access_cookie.encode())

    # --- handlers ------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.StreamResponse:
        visitor = await self._visitor(request, {})
        if isinstance(visitor, web.Response):
            return visitor
        return self._render(request, visitor, 200)

    async def shorten(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        visitor = await self._visitor(request, form)
        if isinstance(visitor, web.Response):
            return visitor
        refused = self._refuse_form(request, visitor, str(form.get("csrf", "")))
        if refused is not None:
            return refused
        chosen = _chosen(form)
        if not chosen.url:
            error = self._w(visitor, "url_missing")
            return self._render(request, visitor, 400, chosen=chosen, error=error)
        try:
            options = _options(chosen)
            if options.set and not visitor.may_set_rules:
                raise UserError("rules_admin_only", "rules_admin_only")
            short = await self._shortener.shorten_in_group(
                visitor.group,
                visitor.sharer_id,
                _url_in(chosen.url),
                options,
                member_key=(WEB_PLATFORM, visitor.address),
                # A page (or a copied /web link) is not an admin's explicit /short in chat:
                # no payment codes, and no changing the rules of a link someone already has.
                rules_on_existing=False,
            )
        except UserError as e:
            message = translate(visitor.lang, e.message_key, **e.params)
            status = 429 if e.code == "rate_limited" else 400
            return self._render(request, visitor, status, chosen=chosen, error=message)
        log.info("web link made group=%d code=%s", visitor.group.id, short.link.code)
        return self._render(request, visitor, 200, made=self._shown(visitor, short))

    async def scan(self, request: web.Request) -> web.StreamResponse:
        limit = self._config.max_upload_bytes
        lang = page_lang(
            request.headers.get(hdrs.ACCEPT_LANGUAGE, ""), request.query.get("lang", "")
        )
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            # Refused before a byte of it is read (aiohttp drains the rest before closing).
            return await self._too_large(request, lang)
        try:
            upload = await _read_upload(request, limit)
        except ValueError:
            return self._message(400, lang, "refused_title", "refused")
        visitor = await self._visitor(request, upload.fields)
        if isinstance(visitor, web.Response):
            return visitor
        refused = self._refuse_form(request, visitor, upload.fields.get("csrf", ""))
        if refused is not None:
            return refused
        if upload.too_large:
            return await self._too_large(request, visitor.lang, visitor)
        if upload.too_many:
            error = self._w(visitor, "too_many_photos") % {"count": MAX_PHOTOS}
            return self._render(request, visitor, 400, scan_error=error)
        if not upload.photos:
            return self._render(request, visitor, 400, scan_error=self._w(visitor, "no_photo"))
        photos = [await self._read_photo(visitor, name, data) for name, data in upload.photos]
        status = 200 if any(not p.error for p in photos) else 400
        return self._render(request, visitor, status, photos=photos)

    async def _too_large(
        self, request: web.BaseRequest, lang: str, visitor: Visitor | None = None
    ) -> web.Response:
        if visitor is None:
            found = await self._visitor(request, {"lang": lang})
            if isinstance(found, web.Response):
                return found
            visitor = found
        error = self._w(visitor, "upload_too_large") % {"mb": self._config.max_upload_mb}
        return self._render(request, visitor, 413, scan_error=error)

    async def _read_photo(self, visitor: Visitor, name: str, data: bytes) -> ShownPhoto:
        try:
            scanned = await scan_image(
                self._shortener,
                visitor.group,
                visitor.sharer_id,
                data,
                max_bytes=self._config.max_upload_bytes,
                member_key=(WEB_PLATFORM, visitor.address),
            )
        except UserError as e:
            log.info("web photo refused group=%d reason=%s", visitor.group.id, e.code)
            return ShownPhoto(name, error=translate(visitor.lang, e.message_key, **e.params))
        return ShownPhoto(name, codes=tuple(self._shown_code(visitor, c) for c in scanned))

    def _shown_code(self, visitor: Visitor, code: ScannedCode) -> ShownCode:
        kind = translate(visitor.lang, f"kind.{code.kind}")
        if code.is_payment:
            return ShownCode(kind, code.shown, True, None, self._w(visitor, "payment_warning"))
        if code.refused is not None:
            note = translate(visitor.lang, code.refused.message_key, **code.refused.params)
            return ShownCode(kind, code.shown, False, None, note)
        if code.short is None:
            return ShownCode(kind, code.shown, False, None, self._w(visitor, "no_url"))
        return ShownCode(kind, code.shown, False, self._shown(visitor, code.short), "")

    # --- guards --------------------------------------------------------------------------

    def _refuse_form(
        self, request: web.BaseRequest, visitor: Visitor, token: str
    ) -> web.Response | None:
        if not self._guard.allows(request, token):
            log.info("web form refused: bad or missing form token")
            return self._message(403, visitor.lang, "refused_title", "refused")
        limited = self._limiter.check("all", visitor.address)
        if limited is not None:
            seconds = limited.retry_after
            error = self._w(visitor, "rate_limited") % {"seconds": seconds}
            response = self._render(request, visitor, 429, error=error)
            response.headers[hdrs.RETRY_AFTER] = str(seconds)
            return response
        return None

    # --- rendering -----------------------------------------------------------------------

    @staticmethod
    def _w(visitor: Visitor, key: str) -> str:
        return _WORDS[visitor.lang][key]

    def _shown(self, visitor: Visitor, short: ShortLink) -> ShownLink:
        return ShownLink(
            code=short.link.code,
            short_url=short.short_url,
            target_url=short.link.url,
            reused=short.reused,
            risk=risk_label(short.risks, visitor.lang),
            rules=describe_rules(short.link, visitor.group, visitor.lang),
        )

    def _message(self, status: int, lang: str, title: str, sentence: str) -> web.Response:
        words = _WORDS[lang]
        html = TEMPLATES.get_template("error.html").render(
            lang=lang,
            title=words[title],
            sentence=words[sentence],
            home="/",
            home_label=words["home"],
        )
        return web.Response(status=status, text=html, content_type="text/html", headers=_HEADERS)

    def _render(
        self,
        request: web.BaseRequest,
        visitor: Visitor,
        status: int,
        *,
        chosen: Chosen | None = None,
        error: str = "",
        made: ShownLink | None = None,
        scan_error: str = "",
        photos: Sequence[ShownPhoto] = (),
    ) -> web.Response:
        lang = visitor.lang
        words = _WORDS[lang]
        cookie = request.cookies.get(_CSRF_COOKIE, "")
        new_cookie = not cookie
        if new_cookie:
            cookie = self._guard.new_cookie()
        settings = visitor.group.settings
        everywhere = "所有平台" if lang == "zh-CN" else "everywhere"
        off = "关" if lang == "zh-CN" else "off"
        switch: dict[str, str] = {"lang": "en" if lang == "zh-CN" else "zh"}
        if visitor.group_token:
            switch["g"] = visitor.group_token
        html = TEMPLATES.get_template("web.html").render(
            lang=lang,
            t=words,
            switch_url="/?" + urlencode(switch),
            group_title=visitor.group.title if visitor.group_token else "",
            may_set_rules=visitor.may_set_rules,
            group_token=visitor.group_token,
            csrf=self._guard.token_for(cookie),
            chosen=chosen or Chosen(),
            error=error,
            made=made,
            scan_error=scan_error,
            photos=photos,
            platforms=[(p, platform_name(p, lang)) for p in PLATFORM_LABELS],
            apps=[(p, platform_name(p, lang)) for p in PLATFORM_LABELS if p in IN_APP],
            platforms_default=platform_list(settings.platforms, lang)
            if settings.platforms is not None
            else everywhere,
            antired_default=platform_list(settings.anti_red, lang) if settings.anti_red else off,
            expiry_default=_expiry_default(settings.expiry_seconds, words),
            expiry_choices=_EXPIRY_CHOICES,
            max_mb=self._config.max_upload_mb,
            max_bytes=self._config.max_upload_bytes,
            max_photos=MAX_PHOTOS,
        )
        response = web.Response(status=status, text=html, content_type="text/html")
        response.headers.update(_HEADERS)
        if new_cookie:
            response.set_cookie(
                _CSRF_COOKIE,
                cookie,
                httponly=True,
                samesite="Lax",
                path="/",
                secure=self._serves_public_https(request),
            )
        if self._config.access_token and request.query.get("key") and self._has_access(request):
            response.set_cookie(
                _KEY_COOKIE,
                self._access_cookie,
                httponly=True,
                samesite="Lax",
                path="/",
                max_age=180 * 86400,
                secure=self._serves_public_https(request),
            )
        return response

    def _serves_public_https(self, request: web.BaseRequest) -> bool:
        """Cookies are marked Secure when the page is reached at an https public_url."""
        return self._public.scheme == "https" and request.host == self._public.netloc


def _expiry_default(seconds: int | None, words: dict[str, str]) -> str:
    if seconds is None:
        return words["expiry_never"]
    for choice in _EXPIRY_CHOICES:
        duration = parse_duration(choice)
        if duration is not None and duration.total_seconds() == seconds:
            return words[f"expiry_{choice}"]
    hours = seconds / 3600
    return f"{hours:g} h"


def _chosen(form: MultiDictProxy[Any]) -> Chosen:
    def text(name: str) -> str:
        value = form.get(name, "")
        return value.strip()[:_MAX_FIELD] if isinstance(value, str) else ""

    def names(name: str, allowed: frozenset[str] | None = None) -> frozenset[str]:
        values = {v for v in form.getall(name, []) if isinstance(v, str)}
        return frozenset(v for v in values if v in (allowed or PLATFORM_LABELS))

    return Chosen(
        url=text("url"),
        platforms=names("platforms"),
        antired=text("antired") or "default",
        antired_apps=names("antired_apps", IN_APP),
        expires=text("expires"),
        max_opens=text("max"),
    )


def _options(chosen: Chosen) -> LinkOptions:
    """The form's choices as the rules `/short` options give, through the same parsers."""
    given: dict[str, Any] = {}
    if chosen.platforms:
        given["platforms"] = parse_platforms(",".join(sorted(chosen.platforms)))
    if chosen.antired_apps or chosen.antired == "some":
        apps = chosen.antired_apps
        given["anti_red"] = parse_platforms(",".join(sorted(apps))) if apps else frozenset()
    elif chosen.antired in ("on", "off"):
        given["anti_red"] = parse_switch_or_platforms(chosen.antired)
    if chosen.expires:
        given["expires"] = parse_duration(chosen.expires)
    if chosen.max_opens:
        given["max"] = parse_max(chosen.max_opens)
    return LinkOptions(
        set=frozenset(given),
        platforms=given.get("platforms"),
        anti_red=given.get("anti_red"),
        expires_in=given.get("expires"),
        max_clicks=given.get("max"),
    )


def _url_in(text: str) -> str:
    """The link in what was pasted: a URL found in it, else a bare domain made https."""
    found = find_urls(text)
    if found:
        return found[0].url
    first = text.split()[0] if text.split() else text
    return first if ":" in first else "https://" + first


async def _read_upload(request: web.BaseRequest, limit: int) -> Upload:
    """The form's fields and photos, reading at most `limit` bytes of photos (then stopping:
    `too_large`). Raises ValueError for a body that is not a multipart form."""
    upload = Upload()
    try:
        reader = await request.multipart()
    except (AssertionError, KeyError) as e:  # aiohttp's ways of saying "not multipart"
        raise ValueError("not a multipart form") from e
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            return upload
        if not isinstance(part, BodyPartReader):
            continue  # a nested multipart: not something this form sends
        if part.filename is None:
            value = await part.read(decode=True)
            upload.fields[part.name or ""] = value[:_MAX_FIELD].decode("utf-8", "replace")
            continue
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            total += len(chunk)
            if total > limit:
                upload.too_large = True
                return upload
            data += chunk
        if not data:
            continue  # an empty file input (the other of the two buttons)
        if len(upload.photos) >= MAX_PHOTOS:
            upload.too_many = True
            return upload
        upload.photos.append((part.filename[:100], bytes(data)))


# --- styled error pages ----------------------------------------------------------------------

_ERROR_KEYS = {404: "no_page", 405: "wrong_method", 413: "too_large"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_pages(home: str | None) -> Middleware:
    """aiohttp's plain-text errors (unknown path, wrong method, a failed handler) as pages,
    with a link to `home` (the web page) when there is one."""

    @web.middleware
    async def styled(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            status = e.status
            key = _ERROR_KEYS.get(status, "bad_request" if status < 500 else "unavailable")
            headers = {k: v for k, v in e.headers.items() if k in (hdrs.ALLOW, hdrs.RETRY_AFTER)}
        except Exception:
            log.exception("request failed method=%s path=%s", request.method, request.path)
            status, key, headers = 500, "unavailable", {}
        headers["Cache-Control"] = "no-store"
        html = render_error(key, request.headers.get(hdrs.ACCEPT_LANGUAGE, ""), home=home)
        return web.Response(status=status, text=html, content_type="text/html", headers=headers)

    return styled


def add_web_routes(
    app: web.Application,
    config: Config,
    store: Groups,
    shortener: Shortener,
    links: WebLinks,
    clock: Clock,
) -> None:
    """`GET /`, `POST /shorten`, `POST /scan` (when `[web] enabled`), and styled 404/405 pages
    for everything the app does not route; `/{code}/` is sent on to `/{code}`."""
    home = "/" if config.web.enabled else None
    app.middlewares.append(error_pages(home))
    app.middlewares.append(web.normalize_path_middleware(append_slash=False, remove_slash=True))
    if not config.web.enabled:
        return
    page = WebPage(config, store, shortener, links, clock, app[REDIRECTS].client_address.of)
    app.router.add_get("/", page.show)
    app.router.add_post("/shorten", page.shorten)
    app.router.add_post("/scan", page.scan)

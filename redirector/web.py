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
from bot.i18n import texts, translate
from bot.limits import CreationLimiter
from bot.links import Shortener, ShortLink
from bot.model import Group
from bot.photos import DecodeObserver, ScannedCode, scan_image
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
from redirector.pages import TEMPLATES, page_lang, render_error, render_message

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
        observe_decode: DecodeObserver | None = None,
    ) -> None:
        self._config = config.web
        self._observe_decode = observe_decode
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
                return self._message(403, lang, "token")
            return Visitor(
                lang,
                group,
                granted.member_id,
                may_set_rules=False,  # a copied link is not an admin's /short (bot/web.py)
                group_token=token,
                address=address,
            )
        if self._config.access_token and not self._has_access(request):
            return self._message(403, lang, "private")
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
            error = translate(visitor.lang, "web.url_missing")
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
            return self._message(400, lang, "refused")
        visitor = await self._visitor(request, upload.fields)
        if isinstance(visitor, web.Response):
            return visitor
        refused = self._refuse_form(request, visitor, upload.fields.get("csrf", ""))
        if refused is not None:
            return refused
        if upload.too_large:
            return await self._too_large(request, visitor.lang, visitor)
        if upload.too_many:
            error = translate(visitor.lang, "web.too_many_photos", count=MAX_PHOTOS)
            return self._render(request, visitor, 400, scan_error=error)
        if not upload.photos:
            return self._render(
                request, visitor, 400, scan_error=translate(visitor.lang, "web.no_photo")
            )
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
        error = translate(visitor.lang, "web.upload_too_large", mb=self._config.max_upload_mb)
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
                observe_decode=self._observe_decode,
            )
        except UserError as e:
            log.info("web photo refused group=%d reason=%s", visitor.group.id, e.code)
            return ShownPhoto(name, error=translate(visitor.lang, e.message_key, **e.params))
        return ShownPhoto(name, codes=tuple(self._shown_code(visitor, c) for c in scanned))

    def _shown_code(self, visitor: Visitor, code: ScannedCode) -> ShownCode:
        kind = translate(visitor.lang, f"kind.{code.kind}")
        if code.is_payment:
            return ShownCode(
                kind, code.shown, True, None, translate(visitor.lang, "web.payment_warning")
            )
        if code.refused is not None:
            note = translate(visitor.lang, code.refused.message_key, **code.refused.params)
            return ShownCode(kind, code.shown, False, None, note)
        if code.short is None:
            return ShownCode(kind, code.shown, False, None, translate(visitor.lang, "web.no_url"))
        return ShownCode(kind, code.shown, False, self._shown(visitor, code.short), "")

    # --- guards --------------------------------------------------------------------------

    def _refuse_form(
        self, request: web.BaseRequest, visitor: Visitor, token: str
    ) -> web.Response | None:
        if not self._guard.allows(request, token):
            log.info("web form refused: bad or missing form token")
            return self._message(403, visitor.lang, "refused")
        limited = self._limiter.check("all", visitor.address)
        if limited is not None:
            seconds = limited.retry_after
            error = translate(visitor.lang, "web.rate_limited", seconds=seconds)
            response = self._render(request, visitor, 429, error=error)
            response.headers[hdrs.RETRY_AFTER] = str(seconds)
            return response
        return None

    # --- rendering -----------------------------------------------------------------------

    def _shown(self, visitor: Visitor, short: ShortLink) -> ShownLink:
        return ShownLink(
            code=short.link.code,
            short_url=short.short_url,
            target_url=short.link.url,
            reused=short.reused,
            risk=risk_label(short.risks, visitor.lang),
            rules=describe_rules(short.link, visitor.group, visitor.lang),
        )

    def _message(self, status: int, lang: str, key: str) -> web.Response:
        html = render_message(f"web.{key}", lang, home="/")
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
        cookie = request.cookies.get(_CSRF_COOKIE, "")
        new_cookie = "" if cookie else self._guard.new_cookie()
        html = TEMPLATES.get_template("web.html").render(
            **self._page_words(visitor),
            csrf=self._guard.token_for(cookie or new_cookie),
            chosen=chosen or Chosen(),
            error=error,
            made=made,
            scan_error=scan_error,
            photos=photos,
            max_mb=self._config.max_upload_mb,
            max_bytes=self._config.max_upload_bytes,
            max_photos=MAX_PHOTOS,
        )
        response = web.Response(status=status, text=html, content_type="text/html")
        response.headers.update(_HEADERS)
        self._set_cookies(request, response, new_cookie)
        return response

    def _page_words(self, visitor: Visitor) -> dict[str, Any]:
        """What the page says around the forms in the visitor's language: texts, platform
        names, the group's default rules and the language switch."""
        lang = visitor.lang
        settings = visitor.group.settings
        switch: dict[str, str] = {"lang": "en" if lang == "zh-CN" else "zh"}
        if visitor.group_token:
            switch["g"] = visitor.group_token
        return {
            "lang": lang,
            "t": texts(lang, "web"),
            "switch_url": "/?" + urlencode(switch),
            "group_title": visitor.group.title if visitor.group_token else "",
            "may_set_rules": visitor.may_set_rules,
            "group_token": visitor.group_token,
            "platforms": [(p, platform_name(p, lang)) for p in PLATFORM_LABELS],
            "apps": [(p, platform_name(p, lang)) for p in PLATFORM_LABELS if p in IN_APP],
            "platforms_default": platform_list(settings.platforms, lang)
            if settings.platforms is not None
            else translate(lang, "web.everywhere"),
            "antired_default": platform_list(settings.anti_red, lang)
            if settings.anti_red
            else translate(lang, "web.off"),
            "expiry_default": _expiry_default(settings.expiry_seconds, lang),
            "expiry_choices": _EXPIRY_CHOICES,
        }

    def _set_cookies(
        self, request: web.BaseRequest, response: web.Response, new_cookie: str
    ) -> None:
        """The form cookie when the browser has none yet, and the access cookie when the
        page was opened with the right `?key=`."""
        if new_cookie:
            response.set_cookie(
                _CSRF_COOKIE,
                new_cookie,
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

    def _serves_public_https(self, request: web.BaseRequest) -> bool:
        """Cookies are marked Secure when the page is reached at an https public_url."""
        return self._public.scheme == "https" and request.host == self._public.netloc


def _expiry_default(seconds: int | None, lang: str) -> str:
    if seconds is None:
        return translate(lang, "web.expiry_never")
    for choice in _EXPIRY_CHOICES:
        duration = parse_duration(choice)
        if duration is not None and duration.total_seconds() == seconds:
            return translate(lang, f"web.expiry_{choice}")
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
    observe_decode: DecodeObserver | None = None,
) -> None:
    """`GET /`, `POST /shorten`, `POST /scan` (when `[web] enabled`), and styled 404/405 pages
    for everything the app does not route; `/{code}/` is sent on to `/{code}`."""
    home = "/" if config.web.enabled else None
    app.middlewares.append(error_pages(home))
    app.middlewares.append(web.normalize_path_middleware(append_slash=False, remove_slash=True))
    if not config.web.enabled:
        return
    address_of = app[REDIRECTS].client_address.of
    page = WebPage(config, store, shortener, links, clock, address_of, observe_decode)
    app.router.add_get("/", page.show)
    app.router.add_post("/shorten", page.shorten)
    app.router.add_post("/scan", page.scan)

"""The pages a reader sees instead of a 302: not found, closed, open in your browser (防红),
not on this platform, a 活码's group QR, and a link's `/{code}+` info page.

Jinja2 templates in `redirector/templates` (the web page and dashboard load theirs from the
same environment), every page extending `base.html`: mobile first, no external assets,
everything from users escaped. Words come from the one catalogue (bot/i18n.py) in zh-CN or en,
negotiated from Accept-Language by `page_lang` for every page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from babel import negotiate_locale
from babel.core import parse_locale
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.clock import local_time
from bot.i18n import DEFAULT_LANG, LANGS, fill, texts, translate
from bot.policy import platform_list, platform_name

# Holds templates only (no per-request state), so one for the process (every page of the
# redirector, the dashboard's too) is safe.
TEMPLATES = Environment(
    loader=PackageLoader("redirector", "templates"),
    autoescape=select_autoescape(("html",), default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# `t.key | fill(name=value)`: a catalogue text's slots are filled as chat's replies are.
TEMPLATES.filters["fill"] = fill

_CLOSED = frozenset({"expired", "exhausted", "removed"})
_STATUSES = frozenset({"active", "expired", "exhausted", "removed"})
_MAX_RANGES = 20  # a real browser sends a handful; the rest of a longer header is ignored
# Babel matches a reader's `zh-TW` or `en-GB` to these by their language part.
_NEGOTIABLE = {"zh": "zh-CN", "en": "en"}


def accepted_languages(accept_language: str) -> list[tuple[str, float]]:
    """RFC 9110 Accept-Language as (lower-case range, q) pairs, most wanted first.

    Ties keep the header's order; ranges with q=0 (not acceptable) and entries that are not a
    language tag (by Babel's `parse_locale`) or `*` are left out."""
    ranges: list[tuple[str, float]] = []
    for entry in accept_language.split(",")[:_MAX_RANGES]:
        tag, _, params = entry.partition(";")
        tag = tag.strip().lower()
        q = _quality(params)
        if q is not None and q > 0 and _is_range(tag):
            ranges.append((tag, q))
    ranges.sort(key=lambda r: -r[1])  # stable: ties keep the header's order
    return ranges


def _quality(params: str) -> float | None:
    """The `q=` weight of one range (1 without one); None when it is malformed."""
    name, _, value = params.partition("=")
    if not params.strip():
        return 1.0
    if name.strip().lower() != "q":
        return None
    try:
        q = float(value.strip())
    except ValueError:
        return None
    return q if 0 <= q <= 1 else None


def _is_range(tag: str) -> bool:
    if tag == "*":
        return True
    try:
        parse_locale(tag, sep="-")
    except ValueError:
        return False
    return True


def page_lang(accept_language: str, choice: str = "") -> str:
    """zh-CN or en: `choice` (a `?lang=` switch) if it names one, else the reader's most
    wanted of the two by Accept-Language q-values, negotiated by Babel.

    A reader who asks for neither (or only `*`) gets English unless the header names no
    language: no header is most often a Chinese chat app's browser, a French reader reads
    English sooner. A language refused with q=0 is never the fallback."""
    wanted = [tag for tag, _ in accepted_languages(accept_language)]
    found = _negotiated([choice.strip().lower(), *wanted])
    if found is not None:
        return found
    fallback = DEFAULT_LANG if all(tag == "*" for tag in wanted) else "en"
    if _refuses(accept_language, fallback):
        return next(lang for lang in LANGS if lang != fallback)
    return fallback


def _negotiated(tags: list[str]) -> str | None:
    found = negotiate_locale(tags, list(_NEGOTIABLE), sep="-")
    return None if found is None else _NEGOTIABLE[found]


def _refuses(accept_language: str, lang: str) -> bool:
    """Whether the header says q=0 to `lang` (or to its language: `zh;q=0` refuses zh-CN)."""
    for entry in accept_language.split(",")[:_MAX_RANGES]:
        tag, _, params = entry.partition(";")
        if _quality(params) == 0 and _negotiated([tag.strip().lower()]) == lang:
            return True
    return False


def render_page(key: str, accept_language: str) -> str:
    """404 `not_found`, 503 `unavailable`, 410 `gone`: a title and one sentence."""
    return render_message(f"message.{key}", page_lang(accept_language))


def render_error(key: str, accept_language: str, *, home: str | None) -> str:
    """A styled 4xx/5xx page (`no_page`, `wrong_method`, ...) with a link to `home` if any."""
    return render_message(f"message.{key}", page_lang(accept_language), home=home)


def render_closed(reason: str, accept_language: str) -> str:
    """The 410 page for a link that was open once: `expired`, `exhausted` or `removed`."""
    if reason not in _CLOSED:
        raise ValueError(f"unknown closed reason {reason!r}")
    return render_message(f"message.{reason}", page_lang(accept_language))


def render_guide(
    *, short_url: str, target_url: str, platform: str, os: str, accept_language: str
) -> str:
    """The 200 "open in your browser" page for readers inside a chat app's browser.

    It names the real destination and the reason, and only explains; the copy button
    copies the short link so the open in the browser is counted like any other."""
    lang = page_lang(accept_language)
    return TEMPLATES.get_template("guide.html").render(
        lang=lang,
        t=texts(lang, "page"),
        app=platform_name(platform, lang),
        os=os if os in ("ios", "android") else "other",
        short_url=short_url,
        target_url=target_url,
        target_host=urlsplit(target_url).hostname or target_url,
        target_is_web=_is_web(target_url),
    )


def render_platform_page(
    *, short_url: str, allowed: frozenset[str], platform: str, accept_language: str
) -> str:
    """The 403 page naming where the link opens and where the reader is now."""
    lang = page_lang(accept_language)
    return TEMPLATES.get_template("platform.html").render(
        lang=lang,
        t=texts(lang, "page"),
        allowed=platform_list(allowed, lang),
        current=platform_name(platform, lang),
        short_url=short_url,
    )


def render_info(
    *,
    code: str,
    short_url: str,
    target_url: str,
    group_title: str,
    sharer: str | None,
    created_at: datetime,
    human_clicks: int,
    status: str,
    accept_language: str,
    tz: str = "UTC",
) -> str:
    """The `GET /{code}+` page: where a link goes and how it has been used, before opening it.
    Times are in `tz` (the link's group's zone), labelled."""
    if status not in _STATUSES:
        raise ValueError(f"unknown link status {status!r}")
    lang = page_lang(accept_language)
    created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return TEMPLATES.get_template("info.html").render(
        lang=lang,
        t=texts(lang, "page"),
        code=code,
        short_url=short_url,
        target_url=target_url,
        # A closed link (removed, expired, used up) is not clickable from its info page either.
        target_is_web=_is_web(target_url) and status == "active",
        group_title=group_title,
        sharer=sharer,
        created=local_time(created, tz).replace(" ", "\u00a0"),  # never wraps apart
        human_clicks=f"{human_clicks:,}",
        status=status,
    )


def render_live_qr(*, qr_data_uri: str, short_url: str, accept_language: str) -> str:
    """The 200 page of a live code whose target is a WeChat group QR: the group's QR image to
    long-press (WeChat joins groups from QR images, not from links)."""
    lang = page_lang(accept_language)
    return TEMPLATES.get_template("live_qr.html").render(
        lang=lang, t=texts(lang, "page"), qr_data_uri=qr_data_uri, short_url=short_url
    )


def render_message(key: str, lang: str, *, home: str | None = None) -> str:
    """A page that only says what happened: the catalogue's `{key}.title` and one sentence
    `{key}.text`, and a link to `home` when there is one."""
    return TEMPLATES.get_template("message.html").render(
        lang=lang,
        title=translate(lang, f"{key}.title"),
        sentence=translate(lang, f"{key}.text"),
        home=home,
        home_label=translate(lang, "common.home"),
    )


def _is_web(url: str) -> bool:
    """Only http(s) targets become clickable: a `javascript:` target must never be an href."""
    return urlsplit(url).scheme.lower() in ("http", "https")

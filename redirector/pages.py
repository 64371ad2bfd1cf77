"""Small server-rendered pages the redirector shows people: not found, gone.

Mobile first, no external assets, zh-CN or en chosen from Accept-Language.
"""

from __future__ import annotations

from html import escape

_TEXT = {
    "not_found": {
        "zh-CN": ("链接不存在", "这个短链接不存在，可能输入有误。请检查链接或联系分享者。"),
        "en": ("Link not found", "This short link does not exist. Check it or ask who shared it."),
    },
    "unavailable": {
        "zh-CN": ("请稍后再试", "服务暂时不可用，请稍后刷新。"),
        "en": ("Try again shortly", "The service is briefly unavailable. Please reload soon."),
    },
    "gone": {
        "zh-CN": ("链接已失效", "这个短链接已被停用。"),
        "en": ("Link disabled", "This short link has been disabled."),
    },
}

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
max-width:32rem;margin:15vh auto;padding:0 1.2rem;color:#222;line-height:1.6}}
h1{{font-size:1.4rem}}small{{color:#888}}</style></head>
<body><h1>{title}</h1><p>{body}</p><small>suo.run</small></body></html>
"""


def page_lang(accept_language: str) -> str:
    """zh-CN unless the reader's first preference is not Chinese."""
    first = accept_language.split(",", 1)[0].strip().lower()
    if not first or first.startswith("zh"):
        return "zh-CN"
    return "en"


def render_page(key: str, accept_language: str) -> str:
    lang = page_lang(accept_language)
    title, body = _TEXT[key][lang]
    return _PAGE.format(lang=lang, title=escape(title), body=escape(body))

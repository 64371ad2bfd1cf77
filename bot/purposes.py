"""What a link or QR payload does beyond opening a web page: pay someone, join a group, add a
contact, open a mini-program. Pure string rules on the URL; no lookups.
"""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import urlsplit


class Purpose(StrEnum):
    PAYMENT = "payment"  # scanning pays whoever made the code (扫码领红包 is the classic scam)
    INVITE = "invite"  # joins a group or channel
    CONTACT = "contact"  # adds a person or an official account
    MINIPROGRAM = "miniprogram"  # opens a WeChat or Alipay mini-program


# App schemes a phone's scanner hands straight to the app.
_SCHEMES: dict[str, Purpose] = {
    "wxp": Purpose.PAYMENT,  # WeChat Pay personal and merchant codes (wxp://f2f0...)
    "alipays": Purpose.MINIPROGRAM,  # alipays://platformapi/startapp?appId=...
    "weixin": Purpose.MINIPROGRAM,  # weixin://dl/business/?t=... (mini-program URL scheme)
}

# (host, path pattern) for web addresses the apps' scanners treat as actions. Hosts are
# matched exactly (after lower-casing and dropping a trailing dot).
_WEB: tuple[tuple[str, re.Pattern[str], Purpose], ...] = (
    ("qr.alipay.com", re.compile(r"/."), Purpose.PAYMENT),
    ("payapp.weixin.qq.com", re.compile(r"/."), Purpose.PAYMENT),
    ("wx.tenpay.com", re.compile(r"/."), Purpose.PAYMENT),
    ("qr.95516.com", re.compile(r"/."), Purpose.PAYMENT),  # UnionPay QR
    ("weixin.qq.com", re.compile(r"/g/."), Purpose.INVITE),  # WeChat group QR (7 days)
    ("work.weixin.qq.com", re.compile(r"/gm/."), Purpose.INVITE),  # WeCom group chat
    ("t.me", re.compile(r"/(?:\+|joinchat/)."), Purpose.INVITE),
    ("telegram.me", re.compile(r"/(?:\+|joinchat/)."), Purpose.INVITE),
    ("qm.qq.com", re.compile(r"/."), Purpose.INVITE),  # QQ group or friend QR
    ("qun.qq.com", re.compile(r"/."), Purpose.INVITE),
    ("u.wechat.com", re.compile(r"/."), Purpose.CONTACT),  # WeChat personal card
    ("weixin.qq.com", re.compile(r"/r/."), Purpose.CONTACT),  # official account / person
    ("work.weixin.qq.com", re.compile(r"/u/."), Purpose.CONTACT),  # WeCom contact card
    ("wxaurl.cn", re.compile(r"/."), Purpose.MINIPROGRAM),  # mini-program URL link
    ("mp.weixin.qq.com", re.compile(r"/a/."), Purpose.MINIPROGRAM),  # mini-program QR
)


def url_purpose(text: str) -> Purpose | None:
    """What scanning or opening `text` does when that is more than showing a page."""
    try:
        parts = urlsplit(text.strip())
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme in _SCHEMES:
        return _SCHEMES[scheme]
    if scheme not in ("http", "https"):
        return None
    for web_host, path, purpose in _WEB:
        if host == web_host and path.match(parts.path):
            return purpose
    return None

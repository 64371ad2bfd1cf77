"""Reply texts in zh-CN and en, looked up by key and formatted with named parameters.

Every user-visible sentence of the core lives here; code never builds chat text from str(e).
"""

from __future__ import annotations

from typing import Any

DEFAULT_LANG = "zh-CN"
LANGS = ("zh-CN", "en")

_CATALOG: dict[str, dict[str, str]] = {
    "help": {
        "zh-CN": (
            "快缩短网址 suo.run\n"
            "· 在群里发链接，我回复短链接和二维码；同一群里同一链接用同一个短码，点击会累计。\n"
            "· 发二维码图片，我识别其中的每个码并把网址缩短。\n"
            "命令：\n"
            "/short <网址> 生成短链接\n"
            "/qr <文字或网址> 生成二维码\n"
            "/stats 本群的链接数和点击数\n"
            "/help 显示本帮助"
        ),
        "en": (
            "suo.run short links\n"
            "· Post a link in the group and I reply with a short link and its QR code; the same "
            "link in the same group keeps its code, so clicks add up.\n"
            "· Send a QR photo and I decode every code in it and shorten the links.\n"
            "Commands:\n"
            "/short <url> make a short link\n"
            "/qr <text or url> make a QR code\n"
            "/stats links and clicks in this group\n"
            "/help show this help"
        ),
    },
    "shortened": {"zh-CN": "🔗 {short}\n↳ {url}", "en": "🔗 {short}\n↳ {url}"},
    "shortened_reused": {
        "zh-CN": "🔗 {short}（本群已有，点击累计）\n↳ {url}",
        "en": "🔗 {short} (already shared here, clicks add up)\n↳ {url}",
    },
    "already_short": {
        "zh-CN": "{url} 已经是短链接，无需再缩短。",
        "en": "{url} is already one of our short links.",
    },
    "url_scheme": {
        "zh-CN": "只能缩短 http:// 或 https:// 开头的网址。",
        "en": "Only http:// and https:// links can be shortened.",
    },
    "url_too_long": {
        "zh-CN": "网址太长（{length} 个字符，上限 {limit}）。",
        "en": "That link is too long ({length} characters, limit {limit}).",
    },
    "url_invalid": {
        "zh-CN": "这不是一个有效的网址。",
        "en": "That is not a valid web address.",
    },
    "url_secret": {
        "zh-CN": (
            "这是群机器人的 Webhook 地址，里面含有密钥，不会缩短。"
            "管理员可以发送 bind <地址> 绑定。"
        ),
        "en": "That is a group robot's webhook address with its secret key; it is not "
        "shortened. Admins can send bind <address> instead.",
    },
    "url_blocked": {
        "zh-CN": "抱歉，{host} 在本群不允许缩短。",
        "en": "Sorry, links to {host} can't be shortened here.",
    },
    "short_usage": {
        "zh-CN": "用法：/short <网址>，例如 /short https://example.com",
        "en": "Usage: /short <url>, e.g. /short https://example.com",
    },
    "qr_usage": {
        "zh-CN": "用法：/qr <文字或网址>",
        "en": "Usage: /qr <text or url>",
    },
    "qr_text_too_long": {
        "zh-CN": "文字太长，二维码最多容纳 {limit} 个字符。",
        "en": "That text is too long for a QR code (limit {limit} characters).",
    },
    "qr_made": {"zh-CN": "二维码：{text}", "en": "QR code: {text}"},
    "qr_none_found": {
        "zh-CN": "图片中没有找到二维码。请换一张更清晰、二维码更大的照片试试。",
        "en": "No QR code found in that image. Try a sharper photo with the code larger.",
    },
    "qr_found_header": {
        "zh-CN": "识别到 {count} 个二维码：",
        "en": "Found {count} QR code(s):",
    },
    "qr_item": {"zh-CN": "{index}. [{kind}] {text}", "en": "{index}. [{kind}] {text}"},
    "image_too_large": {
        "zh-CN": "图片太大（上限 {limit_mb} MB），请发送压缩后的图片。",
        "en": "That image is too large (limit {limit_mb} MB); please send a smaller one.",
    },
    "image_too_many_pixels": {
        "zh-CN": "图片分辨率太高（上限 {limit_mp} 百万像素），请缩小后再发。",
        "en": (
            "That image has too many pixels (limit {limit_mp} megapixels); please scale it down."
        ),
    },
    "image_unreadable": {
        "zh-CN": "无法读取这张图片（文件损坏或不是图片）。",
        "en": "I couldn't read that image (the file is broken or not an image).",
    },
    "image_unavailable": {
        "zh-CN": "无法获取这张图片，请重新发送。",
        "en": "I couldn't fetch that image; please send it again.",
    },
    "unknown_command": {
        "zh-CN": "不认识的命令 /{command}。发送 /help 查看可用命令。",
        "en": "Unknown command /{command}. Send /help for the list.",
    },
    "stats": {
        "zh-CN": (
            "本群统计：{links} 个链接，{human} 次点击（另有预览 {previews} 次、机器人 {bots} 次）"
        ),
        "en": "This group: {links} links, {human} clicks ({previews} link previews, {bots} bots)",
    },
    "admin_only": {
        "zh-CN": "只有群管理员可以使用这个命令。",
        "en": "Only group admins can use this command.",
    },
    "bind_wecom_only": {
        "zh-CN": "bind 用于企业微信群：把群机器人的 Webhook 地址绑定到本群。",
        "en": "bind is for WeCom groups: it links the group robot's webhook to the group.",
    },
    "bind_usage": {
        "zh-CN": (
            "用法：bind <群机器人 Webhook 地址或 key>（群设置 → 群机器人 → 复制 Webhook 地址）"
        ),
        "en": "Usage: bind <group robot webhook URL or key> (group settings → robots → copy "
        "the webhook address)",
    },
    "bind_done": {
        "zh-CN": "已绑定群机器人（key {masked_key}），周报和提醒将通过它发到本群。",
        "en": (
            "Group robot bound (key {masked_key}); digests and reminders will be posted "
            "through it."
        ),
    },
    "admin_usage": {
        "zh-CN": "用法：admin add <成员账号>（企业微信的 userid）",
        "en": "Usage: admin add <member user id>",
    },
    "admin_added": {
        "zh-CN": "已把 {user} 设为本群的机器人管理员。",
        "en": "{user} is now an admin of this bot in this group.",
    },
    "bind_invalid": {
        "zh-CN": (
            "⚠️ 本群绑定的群机器人（key {masked_key}）已失效（被删除或移出群），已解除绑定。"
            "请重新添加群机器人，并发送 bind <Webhook 地址>。"
        ),
        "en": (
            "⚠️ The group robot bound here (key {masked_key}) no longer works (deleted or "
            "removed) and was unbound. Add a group robot again and send bind <webhook URL>."
        ),
    },
    "internal_error": {
        "zh-CN": "抱歉，出了点问题，请稍后再试。",
        "en": "Sorry, something went wrong. Please try again later.",
    },
    "kind.url": {"zh-CN": "网址", "en": "URL"},
    "kind.wifi": {"zh-CN": "Wi-Fi", "en": "Wi-Fi"},
    "kind.vcard": {"zh-CN": "名片", "en": "vCard"},
    "kind.mecard": {"zh-CN": "名片", "en": "MeCard"},
    "kind.bookmark": {"zh-CN": "书签", "en": "bookmark"},
    "kind.email": {"zh-CN": "邮件", "en": "email"},
    "kind.phone": {"zh-CN": "电话", "en": "phone"},
    "kind.sms": {"zh-CN": "短信", "en": "SMS"},
    "kind.geo": {"zh-CN": "位置", "en": "location"},
    "kind.text": {"zh-CN": "文字", "en": "text"},
}


def translate(lang: str, key: str, **params: Any) -> str:
    """The text for `key` in `lang` (falling back to zh-CN), formatted with `params`."""
    entry = _CATALOG[key]
    template = entry.get(lang) or entry[DEFAULT_LANG]
    return template.format(**params) if params else template


def catalog_keys() -> frozenset[str]:
    return frozenset(_CATALOG)

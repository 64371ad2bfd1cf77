"""Realistic Telegram update dicts, shaped as the Bot API sends them, for adapter tests.

Entity offsets and lengths are UTF-16 code units; links are found with tdlib's own rules.
"""

from __future__ import annotations

import itertools
import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

JSONDict = dict[str, Any]

GROUP_ANONYMOUS_BOT_ID = 1087968824
DEFAULT_CHAT_ID = -100123
DEFAULT_CHAT_TITLE = "测试群"
DEFAULT_BOT_ID = 123
DEFAULT_BOT_USERNAME = "suo_test_bot"

# Message ids only need to be unique within a test run; a shared counter keeps builders
# callable without threading a factory object through every test.
_message_ids = itertools.count(1001)
_callback_ids = itertools.count(1)


# -- UTF-16 ------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units, the unit of every Bot API entity offset."""
    return len(text.encode("utf-16-le")) // 2


def utf16_entity(text: str, start: int, end: int, entity_type: str, **extra: Any) -> JSONDict:
    """An entity of `entity_type` covering the code-point slice `text[start:end]`."""
    return {
        "offset": utf16_len(text[:start]),
        "length": utf16_len(text[start:end]),
        "type": entity_type,
        **extra,
    }


def entity_text(text: str, entity: Mapping[str, Any]) -> str:
    """The substring an entity covers, decoding its UTF-16 offset and length."""
    units = text.encode("utf-16-le")
    start = int(entity["offset"]) * 2
    return units[start : start + int(entity["length"]) * 2].decode("utf-16-le")


# -- Entity detection, a port of tdlib's MessageEntity.cpp (match_urls, fix_url) ----------

_BAD_PATH_END_CHARS = ".:;,('?!`"
_EMAIL = re.compile(
    r"([a-z0-9_-]{0,26}[.+]){0,10}[a-z0-9_-]{1,35}@"
    r"(([a-z0-9][a-z0-9_-]{0,28})?[a-z0-9][.]){1,6}[a-z]{2,8}",
    re.IGNORECASE,
)
# A subset of tdlib's list: a scheme-less "host.tld" is a link only for a common TLD.
_COMMON_TLDS = frozenset(
    " ".join(
        (
            "ai am app art asia at au be bio biz blog bot br by ca cc ch chat cl club cn co",
            "com cx cz de dev dk edu email es eu fi fm fr fun gd gg gl gov group hk icu id ie",
            "il im in info ink int io ir is it jp kr la li link live ltd ly me media mil mo",
            "mobi ms mx my name net news nl no nz online org page ph pl pro pt pub ru run sa",
            "se sg sh shop site so space store su tech th to top tr tv tw ua uk us uz vc vip",
            "vn website wiki work world ws xyz za",
        )
    ).split()
)


def _is_separator(ch: str) -> bool:
    return ch in " \t\r\n\f\v" or unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def _is_url_unicode_symbol(ch: str) -> bool:
    code = ord(ch)
    if 0x2000 <= code <= 0x206F:  # General Punctuation: only ZWNJ/ZWJ and dashes belong
        return code in (0x200C, 0x200D) or 0x2010 <= code <= 0x2015
    return not _is_separator(ch)


def _is_path_symbol(ch: str) -> bool:
    return ch not in '\n<>"«»' and _is_url_unicode_symbol(ch)


def _is_domain_symbol(ch: str) -> bool:
    if ord(ch) < 0xC0:
        return ch == "." or (ch.isascii() and (ch.isalnum() or ch in "_-~"))
    return _is_url_unicode_symbol(ch)


def _is_user_data_symbol(ch: str) -> bool:
    return ch not in "\n/[]{}()'`<>\"@«»" and _is_url_unicode_symbol(ch)


def _is_protocol_symbol(ch: str) -> bool:
    if ord(ch) < 0x80:
        return ch.isalnum() or ch in "+-"
    return not _is_separator(ch)


def _is_word_character(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _match_urls(text: str) -> list[tuple[int, int]]:
    """Candidate link spans (code-point indices), following tdlib's `match_urls`."""
    spans: list[tuple[int, int]] = []
    size = len(text)
    begin = 0
    while True:
        dot = text.find(".", begin)
        if dot == -1 or dot + 1 == size:
            break
        if text[dot + 1] == " ":
            begin = dot + 2
            continue

        domain_begin = dot
        while domain_begin > begin and _is_domain_symbol(text[domain_begin - 1]):
            domain_begin -= 1
        last_at: int | None = None
        domain_end = dot
        while domain_end < size:
            if text[domain_end] == "@":
                last_at = domain_end
            elif not _is_domain_symbol(text[domain_end]):
                break
            domain_end += 1
        if last_at is not None:
            while domain_begin > begin and _is_user_data_symbol(text[domain_begin - 1]):
                domain_begin -= 1

        url_end = domain_end
        if url_end < size and text[url_end] == ":":
            port_end = url_end + 1
            while port_end < size and text[port_end] in "0123456789":
                port_end += 1
            port_begin = url_end + 1
            while port_begin < port_end and text[port_begin] == "0":
                port_begin += 1
            if (
                port_begin != port_end
                and port_end - port_begin <= 5
                and int(text[port_begin:port_end]) <= 65535
            ):
                url_end = port_end
        if url_end < size and text[url_end] in "/?#":
            path_end = url_end + 1
            while path_end < size and _is_path_symbol(text[path_end]):
                path_end += 1
            while path_end > url_end + 1 and text[path_end - 1] in _BAD_PATH_END_CHARS:
                path_end -= 1
            if text[url_end] == "/" or path_end > url_end + 1:
                url_end = path_end
        while url_end > dot + 1 and text[url_end - 1] == ".":
            url_end -= 1

        is_bad = False
        url_begin = domain_begin
        if url_begin > begin and text[url_begin - 1] == "@":
            if last_at is not None:
                is_bad = True
            user_data_begin = url_begin - 1
            while user_data_begin > begin and _is_user_data_symbol(text[user_data_begin - 1]):
                user_data_begin -= 1
            if user_data_begin == url_begin - 1:
                is_bad = True
            url_begin = user_data_begin
        if url_begin > begin:
            prefix = text[begin:url_begin]
            if len(prefix) >= 6 and prefix.endswith("://"):
                protocol_begin = url_begin - 3
                while protocol_begin > begin and _is_protocol_symbol(text[protocol_begin - 1]):
                    protocol_begin -= 1
                protocol = text[protocol_begin : url_begin - 3].lower()
                if protocol.endswith("http") and protocol != "shttp":
                    url_begin -= 7
                elif protocol.endswith("https"):
                    url_begin -= 8
                elif protocol.endswith("ftp") and protocol not in ("tftp", "sftp"):
                    url_begin -= 6
                elif protocol.endswith("tonsite"):
                    url_begin -= 10
                else:
                    is_bad = True
            else:
                previous = text[url_begin - 1]
                if _is_word_character(previous) or previous in "/#@":
                    is_bad = True

        if not is_bad:
            if url_end > dot + 1:
                spans.append((url_begin, url_end))
            while url_end < size and text[url_end] == ".":
                url_end += 1
        else:
            while text[url_end - 1] != ".":
                url_end -= 1
        begin = max(url_end, dot + 1)
    return spans


def _is_common_tld(tld: str) -> bool:
    lowered = tld.lower()
    if lowered != tld and lowered[1:] == tld[1:]:
        return False
    return lowered in _COMMON_TLDS


def _fixed_url(url: str) -> str | None:
    """tdlib's `fix_url`: the link as Telegram marks it, or None when it is no link."""
    rest = url
    has_protocol = rest[:10].lower().startswith(("http://", "https://", "ftp://", "tonsite://"))
    if has_protocol:
        rest = rest[rest.find(":") + 3 :]
    domain_end = min([len(rest), *(i for i in (rest.find(c) for c in "/?#") if i >= 0)])
    domain, path = rest[:domain_end], rest[domain_end:]
    domain = domain[domain.find("@") + 1 :]
    if ":" in domain:
        domain = domain[: domain.rfind(":")]

    balance = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    path_pos = 0
    while path_pos < len(path):
        ch = path[path_pos]
        if ch in balance:
            balance[ch] += 1
        elif ch in closing:
            balance[closing[ch]] -= 1
        if min(balance.values()) < 0:
            break
        path_pos += 1
    while path_pos > 0 and path[path_pos - 1] in _BAD_PATH_END_CHARS:
        path_pos -= 1
    url = url[: len(url) - (len(path) - path_pos)]

    parts = domain.split(".")
    if any(not part or len(part) >= 64 or part.endswith("-") for part in parts):
        return None
    if len(parts) == 1:
        return None
    is_ipv4 = len(parts) == 4 and all(
        part.isascii() and part.isdigit() and len(part) <= 3 and int(part) <= 255 for part in parts
    )
    if is_ipv4 and not any(len(part) >= 2 and part[0] == "0" for part in parts):
        return url
    if all(part.isascii() and part.isdigit() for part in parts):
        return None
    tld = parts[-1]
    if len(tld) <= 1:
        return None
    if tld.startswith("xn--"):
        if len(tld) <= 5 or not (tld[4:].isascii() and tld[4:].isalnum()):
            return None
    else:
        if "_" in tld or "-" in tld:
            return None
        if not has_protocol and not _is_common_tld(tld):
            return None
    if "_" in parts[-2]:
        return None
    return url


def _link_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, "url" | "email") for every link Telegram would mark in `text`."""
    found: list[tuple[int, int, str]] = []
    for start, end in _match_urls(text):
        candidate = text[start:end]
        if _EMAIL.fullmatch(candidate):
            found.append((start, end, "email"))
        elif candidate.startswith("mailto:") and _EMAIL.fullmatch(candidate[7:]):
            found.append((start + 7, end, "email"))
        elif (fixed := _fixed_url(candidate)) is not None:
            found.append((start, start + len(fixed), "url"))
    return found


def url_entities(text: str) -> list[JSONDict]:
    """The `url` entities Telegram attaches to `text` (CJK right after a link stays in it)."""
    return [
        utf16_entity(text, start, end, "url")
        for start, end, kind in _link_spans(text)
        if kind == "url"
    ]


def _bot_command_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    size = len(text)
    pos = text.find("/")
    while pos != -1:
        previous = text[pos - 1] if pos else ""
        end = pos + 1
        while end < size and text[end].isascii() and (text[end].isalnum() or text[end] == "_"):
            end += 1
        valid = not (previous and (_is_word_character(previous) or previous in "/<>"))
        valid = valid and 1 <= end - pos - 1 <= 64
        if valid and end < size and text[end] == "@":
            mention_end = end + 1
            while (
                mention_end < size
                and text[mention_end].isascii()
                and (text[mention_end].isalnum() or text[mention_end] == "_")
            ):
                mention_end += 1
            valid = 3 <= mention_end - end - 1 <= 32
            end = mention_end
        if valid and end < size and (_is_word_character(text[end]) or text[end] in "/<>"):
            valid = False
        if valid:
            spans.append((pos, end))
        pos = text.find("/", pos + 1)
    return spans


_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{2,32})(?![\w@])")


def detect_entities(text: str) -> list[JSONDict]:
    """Entities Telegram finds on its own in plain text: url, email, bot_command, mention."""
    spans = [(start, end, kind) for start, end, kind in _link_spans(text)]
    spans += [(start, end, "bot_command") for start, end in _bot_command_spans(text)]
    spans += [
        (match.start(), match.end(), "mention")
        for match in _MENTION.finditer(text)
        if len(match.group(1)) >= 4 or match.group(1).lower() in ("gif", "vid", "pic")
    ]
    spans.sort(key=lambda span: (span[0], -span[1]))
    kept: list[JSONDict] = []
    last_end = 0
    for start, end, kind in spans:
        if start >= last_end:
            kept.append(utf16_entity(text, start, end, kind))
            last_end = end
    return kept


def text_link_entity(text: str, anchor: str, url: str) -> JSONDict:
    """A `text_link` entity on the first occurrence of `anchor` in `text`."""
    start = text.index(anchor)
    return utf16_entity(text, start, start + len(anchor), "text_link", url=url)


def bot_command_entity(text: str, command: str | None = None) -> JSONDict:
    """A `bot_command` entity for `command` (e.g. "/short@suo_test_bot"), default the first."""
    if command is None:
        spans = _bot_command_spans(text)
        if not spans:
            raise ValueError(f"no bot command in {text!r}")
        start, end = spans[0]
    else:
        start = text.index(command)
        end = start + len(command)
    return utf16_entity(text, start, end, "bot_command")


# -- Users, chats, members ------------------------------------------------------------------


def user(
    user_id: int = 42,
    first_name: str = "Alice",
    username: str | None = None,
    *,
    is_bot: bool = False,
    language_code: str | None = "zh-hans",
) -> JSONDict:
    """A User object as it appears in `from`."""
    result: JSONDict = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if username is not None:
        result["username"] = username
    if language_code is not None and not is_bot:
        result["language_code"] = language_code
    return result


def bot_user(bot_id: int = DEFAULT_BOT_ID, username: str = DEFAULT_BOT_USERNAME) -> JSONDict:
    return user(bot_id, "suo test", username, is_bot=True)


def group_anonymous_bot() -> JSONDict:
    """The placeholder `from` of messages an anonymous admin sends on behalf of the group."""
    return user(GROUP_ANONYMOUS_BOT_ID, "Group", "GroupAnonymousBot", is_bot=True)


def group_chat(chat_id: int = DEFAULT_CHAT_ID, title: str = DEFAULT_CHAT_TITLE) -> JSONDict:
    """A group chat; ids starting with -100 are supergroups, as on Telegram."""
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    result: JSONDict = {"id": chat_id, "title": title, "type": kind}
    if kind == "group":
        result["all_members_are_administrators"] = False
    return result


def private_chat(sender: Mapping[str, Any]) -> JSONDict:
    result: JSONDict = {"id": sender["id"], "first_name": sender["first_name"], "type": "private"}
    if "username" in sender:
        result["username"] = sender["username"]
    return result


_ADMIN_RIGHTS: JSONDict = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
    "can_manage_topics": False,
}
_RESTRICTED_RIGHTS: JSONDict = {
    "is_member": True,
    "can_send_messages": False,
    "can_send_audios": False,
    "can_send_documents": False,
    "can_send_photos": False,
    "can_send_videos": False,
    "can_send_video_notes": False,
    "can_send_voice_notes": False,
    "can_send_polls": False,
    "can_send_other_messages": False,
    "can_add_web_page_previews": False,
    "can_change_info": False,
    "can_invite_users": False,
    "can_pin_messages": False,
    "can_manage_topics": False,
    "can_edit_tag": False,
    "until_date": 0,
}
CHAT_MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")


def chat_member(member: Mapping[str, Any], status: str) -> JSONDict:
    """A ChatMember object of `status`, with every field PTB requires for that status."""
    base: JSONDict = {"user": dict(member), "status": status}
    if status == "creator":
        return {**base, "is_anonymous": False}
    if status == "administrator":
        return {**base, **_ADMIN_RIGHTS}
    if status == "restricted":
        return {**base, **_RESTRICTED_RIGHTS}
    if status == "kicked":
        return {**base, "until_date": 0}
    if status in ("member", "left"):
        return base
    raise ValueError(f"unknown chat member status {status!r}")


# -- Forward origins (Bot API 7.0+) -------------------------------------------------------


def forward_origin_user(sender: Mapping[str, Any], date: int | None = None) -> JSONDict:
    return {"type": "user", "date": _date(date), "sender_user": dict(sender)}


def forward_origin_hidden_user(name: str, date: int | None = None) -> JSONDict:
    return {"type": "hidden_user", "date": _date(date), "sender_user_name": name}


def forward_origin_channel(
    chat_id: int = -1001777,
    title: str = "频道",
    message_id: int = 77,
    *,
    username: str | None = None,
    date: int | None = None,
) -> JSONDict:
    chat: JSONDict = {"id": chat_id, "title": title, "type": "channel"}
    if username is not None:
        chat["username"] = username
    return {"type": "channel", "date": _date(date), "chat": chat, "message_id": message_id}


def _legacy_forward_fields(origin: Mapping[str, Any]) -> JSONDict:
    """Pre-7.0 fields Telegram still sends next to `forward_origin` for old clients."""
    legacy: JSONDict = {"forward_date": origin["date"]}
    if origin["type"] == "user":
        legacy["forward_from"] = origin["sender_user"]
    elif origin["type"] == "hidden_user":
        legacy["forward_sender_name"] = origin["sender_user_name"]
    elif origin["type"] == "channel":
        legacy["forward_from_chat"] = origin["chat"]
        legacy["forward_from_message_id"] = origin["message_id"]
    elif origin["type"] == "chat":
        legacy["forward_from_chat"] = origin["sender_chat"]
    return legacy


# -- Messages and updates ------------------------------------------------------------------


def _date(date: int | None) -> int:
    return int(time.time()) if date is None else date


def _message(
    chat: Mapping[str, Any],
    sender: Mapping[str, Any],
    content: Mapping[str, Any],
    *,
    message_id: int | None,
    date: int | None,
    reply_to: Mapping[str, Any] | None = None,
    forward_origin: Mapping[str, Any] | None = None,
    sender_chat: Mapping[str, Any] | None = None,
) -> JSONDict:
    message: JSONDict = {
        "message_id": next(_message_ids) if message_id is None else message_id,
        "from": dict(sender),
    }
    if sender_chat is not None:
        message["sender_chat"] = dict(sender_chat)
    message["chat"] = dict(chat)
    message["date"] = _date(date)
    if forward_origin is not None:
        message["forward_origin"] = dict(forward_origin)
        message.update(_legacy_forward_fields(forward_origin))
    if reply_to is not None:
        message["reply_to_message"] = {
            k: v for k, v in reply_to.items() if k != "reply_to_message"
        }
    message.update(content)
    return message


def _text_content(text: str, entities: Sequence[Mapping[str, Any]] | None) -> JSONDict:
    found = detect_entities(text) if entities is None else [dict(e) for e in entities]
    content: JSONDict = {"text": text}
    if found:
        content["entities"] = found
    return content


def _caption_content(
    caption: str | None, caption_entities: Sequence[Mapping[str, Any]] | None
) -> JSONDict:
    if caption is None:
        return {}
    found = detect_entities(caption) if caption_entities is None else list(caption_entities)
    content: JSONDict = {"caption": caption}
    if found:
        content["caption_entities"] = [dict(e) for e in found]
    return content


def group_text_update(
    text: str,
    *,
    chat_id: int = DEFAULT_CHAT_ID,
    chat_title: str = DEFAULT_CHAT_TITLE,
    user_id: int = 42,
    first_name: str = "Alice",
    username: str | None = None,
    entities: Sequence[Mapping[str, Any]] | None = None,
    message_id: int | None = None,
    reply_to: Mapping[str, Any] | None = None,
    forward_origin: Mapping[str, Any] | None = None,
    date: int | None = None,
) -> JSONDict:
    """A member's text message in a group. `entities=None` lets "Telegram" detect them."""
    message = _message(
        group_chat(chat_id, chat_title),
        user(user_id, first_name, username),
        _text_content(text, entities),
        message_id=message_id,
        date=date,
        reply_to=reply_to,
        forward_origin=forward_origin,
    )
    return {"message": message}


def private_text_update(
    text: str,
    *,
    user_id: int = 42,
    first_name: str = "Alice",
    username: str | None = None,
    entities: Sequence[Mapping[str, Any]] | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> JSONDict:
    sender = user(user_id, first_name, username)
    message = _message(
        private_chat(sender),
        sender,
        _text_content(text, entities),
        message_id=message_id,
        date=date,
    )
    return {"message": message}


def anonymous_admin_text_update(
    text: str,
    *,
    chat_id: int = DEFAULT_CHAT_ID,
    chat_title: str = DEFAULT_CHAT_TITLE,
    author_signature: str | None = None,
    entities: Sequence[Mapping[str, Any]] | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> JSONDict:
    """An admin posting anonymously: `sender_chat` is the group, `from` GroupAnonymousBot."""
    chat = group_chat(chat_id, chat_title)
    content = _text_content(text, entities)
    if author_signature is not None:
        content = {"author_signature": author_signature, **content}
    message = _message(
        chat,
        group_anonymous_bot(),
        content,
        message_id=message_id,
        date=date,
        sender_chat=chat,
    )
    return {"message": message}


def group_photo_update(
    file_dict_sizes: Sequence[Mapping[str, Any]],
    caption: str | None = None,
    caption_entities: Sequence[Mapping[str, Any]] | None = None,
    forwarded_from: Mapping[str, Any] | None = None,
    *,
    chat_id: int = DEFAULT_CHAT_ID,
    chat_title: str = DEFAULT_CHAT_TITLE,
    user_id: int = 42,
    first_name: str = "Alice",
    username: str | None = None,
    message_id: int | None = None,
    media_group_id: str | None = None,
    reply_to: Mapping[str, Any] | None = None,
    date: int | None = None,
) -> JSONDict:
    """A photo message; `file_dict_sizes` are PhotoSize dicts, sent smallest to largest.

    `forwarded_from` is a forward origin (`forward_origin_user`, `forward_origin_channel`...).
    """
    if not file_dict_sizes:
        raise ValueError("a photo needs at least one PhotoSize")
    sizes = sorted(
        (dict(size) for size in file_dict_sizes),
        key=lambda size: (size.get("width", 0) * size.get("height", 0), size.get("file_size", 0)),
    )
    content: JSONDict = {}
    if media_group_id is not None:
        content["media_group_id"] = media_group_id
    content["photo"] = sizes
    content.update(_caption_content(caption, caption_entities))
    message = _message(
        group_chat(chat_id, chat_title),
        user(user_id, first_name, username),
        content,
        message_id=message_id,
        date=date,
        reply_to=reply_to,
        forward_origin=forwarded_from,
    )
    return {"message": message}


def group_document_update(
    file_dict: Mapping[str, Any],
    mime_type: str = "image/png",
    file_name: str = "qr.png",
    caption: str | None = None,
    caption_entities: Sequence[Mapping[str, Any]] | None = None,
    forwarded_from: Mapping[str, Any] | None = None,
    *,
    chat_id: int = DEFAULT_CHAT_ID,
    chat_title: str = DEFAULT_CHAT_TITLE,
    user_id: int = 42,
    first_name: str = "Alice",
    username: str | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> JSONDict:
    """An image sent "as a file": a Document, not a photo, so Telegram kept its bytes."""
    document: JSONDict = {
        "file_name": file_name,
        "mime_type": mime_type,
        "file_id": file_dict["file_id"],
        "file_unique_id": file_dict["file_unique_id"],
        "file_size": file_dict["file_size"],
    }
    content: JSONDict = {"document": document, **_caption_content(caption, caption_entities)}
    message = _message(
        group_chat(chat_id, chat_title),
        user(user_id, first_name, username),
        content,
        message_id=message_id,
        date=date,
        forward_origin=forwarded_from,
    )
    return {"message": message}


def edited(update: Mapping[str, Any], edit_date: int | None = None) -> JSONDict:
    """The `edited_message` update Telegram sends after the message in `update` is edited."""
    message = dict(update["message"])
    message["edit_date"] = _date(edit_date)
    return {"edited_message": message}


def edited_group_text_update(
    text: str, *, message_id: int, edit_date: int | None = None, **kwargs: Any
) -> JSONDict:
    """An edited group text message: same message_id, new text and entities."""
    return edited(group_text_update(text, message_id=message_id, **kwargs), edit_date)


def my_chat_member_update(
    chat_id: int = DEFAULT_CHAT_ID,
    old_status: str = "left",
    new_status: str = "member",
    *,
    chat_title: str = DEFAULT_CHAT_TITLE,
    bot_id: int = DEFAULT_BOT_ID,
    bot_username: str = DEFAULT_BOT_USERNAME,
    from_user_id: int = 42,
    first_name: str = "Alice",
    date: int | None = None,
) -> JSONDict:
    """The bot's own membership changed, e.g. an admin added it to a group (left -> member)."""
    me = bot_user(bot_id, bot_username)
    return {
        "my_chat_member": {
            "chat": group_chat(chat_id, chat_title),
            "from": user(from_user_id, first_name),
            "date": _date(date),
            "old_chat_member": chat_member(me, old_status),
            "new_chat_member": chat_member(me, new_status),
        }
    }


def callback_query_update(
    data: str,
    message: Mapping[str, Any],
    *,
    user_id: int = 42,
    first_name: str = "Alice",
    username: str | None = None,
    query_id: str | None = None,
) -> JSONDict:
    """A tap on an inline button of `message` (a Message dict the bot sent)."""
    return {
        "callback_query": {
            "id": query_id or f"{4_000_000_000_000 + next(_callback_ids)}",
            "from": user(user_id, first_name, username),
            "message": dict(message),
            "chat_instance": f"-{abs(int(message['chat']['id'])) * 7919}",
            "data": data,
        }
    }

"""Builders for the AI bot's decrypted callback JSON, shaped like document 100719's examples.

Group messages reach the bot only when it is @-mentioned, so group text starts "@机器人名 ".
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Sequence
from typing import Any

JSONDict = dict[str, Any]

BOT_NAME = "快缩短"
AIBOTID = "AIBOTID"
# Loopback port 9 (discard): a builder default that can never reach a real WeCom host.
UNUSED_RESPONSE_URL = "http://127.0.0.1:9/cgi-bin/aibot/response?response_code=UNUSED"

_msg_seq = itertools.count(1)


def new_msgid() -> str:
    """An opaque base64 id like the docs' "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI="."""
    digest = hashlib.sha256(f"msg-{next(_msg_seq)}".encode()).digest()[:20]
    return "CAIQ" + base64.b64encode(digest).decode("ascii")


def mention(text: str, bot_name: str = BOT_NAME) -> str:
    """Text as WeCom delivers it from a group: the @mention stays in the content."""
    return f"@{bot_name} {text}" if text else f"@{bot_name}"


def text_item(content: str) -> JSONDict:
    return {"msgtype": "text", "text": {"content": content}}


def image_item(url: str) -> JSONDict:
    return {"msgtype": "image", "image": {"url": url}}


def _envelope(
    msgtype: str,
    *,
    chattype: str,
    chatid: str | None,
    userid: str,
    aibotid: str,
    msgid: str | None,
    response_url: str,
) -> JSONDict:
    message: JSONDict = {"msgid": msgid or new_msgid(), "aibotid": aibotid}
    if chattype == "group":
        # 100719: chatid is only present for group chats.
        message["chatid"] = chatid or "wrGroup1"
    message["chattype"] = chattype
    message["from"] = {"userid": userid}
    message["response_url"] = response_url
    message["msgtype"] = msgtype
    return message


def group_text(
    content: str,
    *,
    chatid: str = "wrGroup1",
    userid: str = "zhangsan",
    aibotid: str = AIBOTID,
    msgid: str | None = None,
    response_url: str = UNUSED_RESPONSE_URL,
    bot_name: str | None = BOT_NAME,
) -> JSONDict:
    """A group text; `bot_name=None` sends `content` verbatim (mention already inside)."""
    message = _envelope(
        "text",
        chattype="group",
        chatid=chatid,
        userid=userid,
        aibotid=aibotid,
        msgid=msgid,
        response_url=response_url,
    )
    message["text"] = {"content": content if bot_name is None else mention(content, bot_name)}
    return message


def single_text(
    content: str,
    *,
    userid: str = "zhangsan",
    aibotid: str = AIBOTID,
    msgid: str | None = None,
    response_url: str = UNUSED_RESPONSE_URL,
) -> JSONDict:
    message = _envelope(
        "text",
        chattype="single",
        chatid=None,
        userid=userid,
        aibotid=aibotid,
        msgid=msgid,
        response_url=response_url,
    )
    message["text"] = {"content": content}
    return message


def single_image(
    url: str,
    *,
    userid: str = "zhangsan",
    aibotid: str = AIBOTID,
    msgid: str | None = None,
    response_url: str = UNUSED_RESPONSE_URL,
) -> JSONDict:
    """100719 lists image callbacks for single chats; `url` serves AES-encrypted bytes."""
    message = _envelope(
        "image",
        chattype="single",
        chatid=None,
        userid=userid,
        aibotid=aibotid,
        msgid=msgid,
        response_url=response_url,
    )
    message["image"] = {"url": url}
    return message


def group_image(
    url: str,
    *,
    chatid: str = "wrGroup1",
    userid: str = "zhangsan",
    aibotid: str = AIBOTID,
    msgid: str | None = None,
    response_url: str = UNUSED_RESPONSE_URL,
) -> JSONDict:
    """A bare image in a group. The docs only promise group images inside `mixed` (with
    the @mention); this exists so the adapter is shown to cope if WeCom sends one anyway."""
    message = _envelope(
        "image",
        chattype="group",
        chatid=chatid,
        userid=userid,
        aibotid=aibotid,
        msgid=msgid,
        response_url=response_url,
    )
    message["image"] = {"url": url}
    return message


def mixed(
    items: Sequence[JSONDict | str],
    *,
    chattype: str = "group",
    chatid: str = "wrGroup1",
    userid: str = "zhangsan",
    aibotid: str = AIBOTID,
    msgid: str | None = None,
    response_url: str = UNUSED_RESPONSE_URL,
) -> JSONDict:
    """图文混排: `items` are text_item()/image_item() dicts; a plain str is a text item.

    In a group, put the @mention in the text yourself (`mention("...")`), as WeCom does.
    """
    message = _envelope(
        "mixed",
        chattype=chattype,
        chatid=chatid if chattype == "group" else None,
        userid=userid,
        aibotid=aibotid,
        msgid=msgid,
        response_url=response_url,
    )
    message["mixed"] = {
        "msg_item": [text_item(i) if isinstance(i, str) else dict(i) for i in items]
    }
    return message


def stream_refresh(
    stream_id: str,
    *,
    chattype: str = "group",
    chatid: str = "wrGroup1",
    userid: str = "zhangsan",
    aibotid: str = AIBOTID,
    msgid: str | None = None,
    response_url: str = UNUSED_RESPONSE_URL,
) -> JSONDict:
    """流式消息刷新: WeCom polls an unfinished stream (up to 6 min after the user's message)."""
    message = _envelope(
        "stream",
        chattype=chattype,
        chatid=chatid if chattype == "group" else None,
        userid=userid,
        aibotid=aibotid,
        msgid=msgid,
        response_url=response_url,
    )
    message["stream"] = {"id": stream_id}
    return message


def enter_chat(
    *, userid: str = "zhangsan", aibotid: str = AIBOTID, create_time: int = 1700000000
) -> JSONDict:
    """进入会话事件 (101027): a user opens the bot's single chat for the first time today.

    Events carry no response_url; 101031 allows a welcome text or card as the reply."""
    return {
        "msgid": new_msgid(),
        "create_time": create_time,
        "aibotid": aibotid,
        "from": {"corpid": "wpCorp", "userid": userid},
        "msgtype": "event",
        "event": {"eventtype": "enter_chat"},
    }

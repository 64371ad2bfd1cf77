"""Fuzz: WeCom callback bodies, forged or broken on the outside (JSON, signature, ciphertext)
or signed properly around an odd message. A forged or broken body is refused with a 4xx and
reaches nobody; a signed one is answered with a sealed reply or ignored; nothing is a 500.

The adapter's callback is answered directly from a query and a body (`answer_callback`, all
that its aiohttp handler does after reading the request), without a socket per example.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from aiohttp import web
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.wecom import WeComAdapter
from bot.config import WeComConfig
from tests.fake_wecom import FakeWeCom, WeComCrypto
from tests.fuzzing import RecordingCore, chat_text, json_values, mutated
from tests.wecom_builders import (
    enter_chat,
    group_image,
    group_text,
    image_item,
    mention,
    mixed,
    single_text,
    stream_refresh,
)

TIMESTAMP, NONCE = "1764000000", "1234567890"
WECOM = FakeWeCom()  # its crypto and reply checks only: never started, no socket
FORGER = WeComCrypto("not-the-token", "a" * 43)  # another bot's keys


def _adapter(core: RecordingCore) -> WeComAdapter:
    def no_network() -> Any:
        raise AssertionError("an odd callback made the adapter reach out")

    config = replace(WeComConfig(), token=WECOM.token, encoding_aes_key=WECOM.encoding_aes_key)
    return WeComAdapter(core, config, session=no_network)  # type: ignore[arg-type]


def _signed(plaintext: str, crypto: WeComCrypto = WECOM.crypto) -> tuple[dict[str, str], bytes]:
    # A fixed random prefix: the same example gives the same ciphertext, as hypothesis needs.
    encrypt = crypto.encrypt(plaintext, random_prefix=bytes(16))
    query = {"msg_signature": crypto.sign(TIMESTAMP, NONCE, encrypt), "timestamp": TIMESTAMP}
    return query | {"nonce": NONCE}, json.dumps({"encrypt": encrypt}).encode()


@st.composite
def messages(draw: st.DrawFn) -> Any:
    """What the AI bot is sent (document 100719's shapes) with fields mutated, or any JSON."""
    text = draw(chat_text)
    shapes = (
        lambda: group_text(mention(text)),
        lambda: single_text(text),
        lambda: group_image("http://127.0.0.1:9/media/1"),
        lambda: mixed([mention(text), image_item("http://127.0.0.1:9/media/2")]),
        lambda: stream_refresh(text),
        enter_chat,
    )
    return draw(st.one_of(mutated(draw(st.sampled_from(shapes))()), json_values))


@st.composite
def forged_callbacks(draw: st.DrawFn) -> tuple[dict[str, str], bytes, bool]:
    """A body and query WeCom did not make, and whether it is forged (not signed with our
    token): garbage, JSON of another shape, a wrong signature, another bot's keys, a
    ciphertext cut or flipped (signed again, as by someone with the token but not the AES
    key, or not)."""
    query, body = _signed(json.dumps(group_text(mention(draw(chat_text)), msgid="m1")))
    encrypt = json.loads(body)["encrypt"]
    kind = draw(st.sampled_from(("bytes", "json", "signature", "keys", "cut", "flip")))
    if kind == "bytes":
        return query, draw(st.binary(max_size=64)), True
    if kind == "json":
        return query, json.dumps(draw(json_values)).encode(), True
    if kind == "signature":
        return query | {"msg_signature": draw(st.text(max_size=40))}, body, True
    if kind == "keys":
        return (*_signed(json.dumps(group_text("hi")), FORGER), True)
    at = draw(st.integers(0, len(encrypt) - 1))
    if kind == "cut":
        tampered = encrypt[:at]
    else:
        tampered = encrypt[:at] + draw(st.sampled_from("A/+=!")) + encrypt[at + 1 :]
    if tampered == encrypt:
        return query, body, False  # the flip changed nothing: WeCom's own callback
    resigned = draw(st.booleans())
    if resigned:
        # The token is all that authenticates a callback (CBC has no MAC): a tampered body
        # signed again may decrypt to a message, answered as any signed one is, or be refused.
        query = query | {"msg_signature": WECOM.crypto.sign(TIMESTAMP, NONCE, tampered)}
    return query, json.dumps({"encrypt": tampered}).encode(), not resigned


def _signed_message(message: Any) -> tuple[dict[str, str], bytes, bool]:
    return (*_signed(json.dumps(message)), False)


@given(st.one_of(forged_callbacks(), messages().map(_signed_message)))
@example(_signed_message(single_text("hi") | {"text": 1}))  # 500s the fuzz found
@example(_signed_message(group_image("http://127.0.0.1:9/media/1") | {"image": [None]}))
@example(_signed_message(mixed(["hi"]) | {"mixed": {"msg_item": ["hi"]}}))
async def test_a_callback_is_refused_or_answered_but_never_a_500(
    callback: tuple[dict[str, str], bytes, bool],
) -> None:
    query, body, forged = callback
    core = RecordingCore()
    response = await _adapter(core).answer_callback(query, body)
    assert isinstance(response, web.Response)
    if forged:
        # Refused before anything reads it: no reply, nothing reaches the core.
        assert 400 <= response.status < 500 and core.messages == []
        return
    assert response.status in (200, 400)
    if response.status == 200 and response.text:
        reply = WECOM.open_reply(response.text, nonce=NONCE)
        assert reply["msgtype"] == "stream" and reply["stream"]["finish"] is True
    for message in core.messages:
        assert all(message.text[u.start : u.end] == u.url for u in message.urls)

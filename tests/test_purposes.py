"""QR codes and links that do more than open a page: payment codes, group invites, contact
cards, mini-programs are named in the reply; payment codes are warned about, not shortened."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.model import IncomingMessage
from bot.purposes import Purpose, url_purpose
from bot.qr import render_qr_png
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, group_message, image_of

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

SHORT = re.compile(r"https://suo\.test/([A-Za-z0-9]{7})")
WECHAT_PAY = "wxp://f2f0HsVgCLJXo1sy4wZsKzhDO7fyoRmOABpQ"
ALIPAY = "https://qr.alipay.com/fkx17948xygdlqbuxvzlye4"


@pytest.mark.parametrize(
    ("text", "purpose"),
    [
        (WECHAT_PAY, Purpose.PAYMENT),
        ("WXP://F2F0HSVGCLJXO1SY4WZSKZHDO7FYORMOABPQ", Purpose.PAYMENT),
        (ALIPAY, Purpose.PAYMENT),
        ("HTTPS://QR.ALIPAY.COM/FKX17948XYGDLQBUXVZLYE4", Purpose.PAYMENT),
        ("https://payapp.weixin.qq.com/qr/AQH5abc?t=GAAQ", Purpose.PAYMENT),
        ("https://qr.95516.com/00010000/62272170000000", Purpose.PAYMENT),
        ("https://weixin.qq.com/g/AwYAAHL7x2Qm9Rk", Purpose.INVITE),
        ("https://work.weixin.qq.com/gm/3f5a1d0b6c2e", Purpose.INVITE),
        ("https://t.me/+AbCdEfGhIjK1MjAw", Purpose.INVITE),
        ("https://t.me/joinchat/AAAAAEc0", Purpose.INVITE),
        ("https://qm.qq.com/cgi-bin/qm/qr?k=abc&jump_from=webapi", Purpose.INVITE),
        ("https://u.wechat.com/EBm8xC7cOWmYk3", Purpose.CONTACT),
        ("http://weixin.qq.com/r/mp/3Dq-8B7E4jIcrRN", Purpose.CONTACT),
        ("https://work.weixin.qq.com/u/vc8a1b2c3d4e", Purpose.CONTACT),
        ("https://wxaurl.cn/bq0R5Zf0Gzk", Purpose.MINIPROGRAM),
        ("weixin://dl/business/?t=Qq5vZt8Yl0a", Purpose.MINIPROGRAM),
        ("alipays://platformapi/startapp?appId=2021001", Purpose.MINIPROGRAM),
        # Ordinary pages on the same sites are just pages.
        ("https://t.me/suo_channel", None),
        ("https://weixin.qq.com/", None),
        ("https://work.weixin.qq.com/nl/act", None),
        ("https://alipay.com/", None),
        ("https://qr.alipay.com.evil.example/fkx1", None),
        ("https://example.com/weixin.qq.com/g/x", None),
        ("not a url at all", None),
    ],
)
def test_url_purpose(text: str, purpose: Purpose | None) -> None:
    assert url_purpose(text) == purpose


def admin(text: str, **kw: object) -> IncomingMessage:
    return replace(group_message(text, user="boss", **kw), is_admin=True)  # type: ignore[arg-type]


async def say(suo: Suo, message: IncomingMessage) -> tuple[str, int]:
    replies = await suo.core.handle(message)
    return "\n".join(r.text for r in replies), sum(len(r.images) for r in replies)


def photo_of(*payloads: str) -> IncomingMessage:
    images = tuple(image_of(render_qr_png(p), f"qr{i}.png") for i, p in enumerate(payloads))
    return group_message("", images=images)


@pytest.mark.parametrize("payment", [WECHAT_PAY, ALIPAY])
async def test_a_payment_qr_gets_a_plain_warning_and_no_short_link(suo: Suo, payment: str) -> None:
    text, images = await say(suo, photo_of(payment))
    assert "[收款码]" in text
    assert "扫码领红包" in text and "付款" in text
    assert not SHORT.search(text) and images == 0
    group = await suo.store.upsert_group("console", "g1", "Group g1")
    assert await suo.store.link_for_url(group.id, payment) is None


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ("https://weixin.qq.com/g/AwYAAHL7x2Qm9Rk", "[入群邀请]"),
        ("https://t.me/+AbCdEfGhIjK1MjAw", "[入群邀请]"),
        ("https://u.wechat.com/EBm8xC7cOWmYk3", "[名片（加好友 / 公众号）]"),
        ("https://wxaurl.cn/bq0R5Zf0Gzk", "[小程序]"),
    ],
)
async def test_invites_contacts_and_mini_programs_are_named_and_shortened(
    suo: Suo, payload: str, kind: str
) -> None:
    text, images = await say(suo, photo_of(payload))
    assert kind in text
    assert SHORT.search(text) and images == 1


async def test_a_photo_with_a_payment_code_and_a_link_shortens_only_the_link(suo: Suo) -> None:
    text, images = await say(suo, photo_of(ALIPAY, "https://example.com/event"))
    assert "[收款码]" in text and "[网址]" in text
    assert len(SHORT.findall(text)) == 1 and images == 1


async def test_a_posted_payment_link_is_refused_for_members_and_shortened_for_an_admin(
    suo: Suo,
) -> None:
    posted, _ = await say(suo, group_message(f"领红包 {ALIPAY}"))
    assert "收款码" in posted and not SHORT.search(posted)
    asked, _ = await say(suo, group_message(f"/short {ALIPAY}"))
    assert "管理员" in asked and not SHORT.search(asked)
    by_admin, images = await say(suo, admin(f"/short {ALIPAY}"))
    assert SHORT.search(by_admin) and images == 1


def test_decode_names_what_each_code_does(tmp_path: Path) -> None:
    pay = tmp_path / "pay.png"
    pay.write_bytes(render_qr_png(WECHAT_PAY))
    invite = tmp_path / "invite.png"
    invite.write_bytes(render_qr_png("https://t.me/joinchat/AAAAAEc0"))
    out = subprocess.run(
        [sys.executable, "-m", "suo.cli", "decode", "--json", str(pay), str(invite)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    kinds = [json.loads(line)["codes"][0]["kind"] for line in out.splitlines()]
    assert kinds == ["payment", "invite"]

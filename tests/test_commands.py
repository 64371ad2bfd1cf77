"""Commands as features declare them: a new command is one decorated method away from being
routed, listed in /help and in the command menus; commands parse once; and a message that
asks nothing of admins never queries the admin list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from bot.bindings import BindingReplies
from bot.commands import Commands, Router, Words, command, helps, parse_command
from bot.config import Config
from bot.context import Context
from bot.core import Core
from bot.links import LinkReplies
from bot.model import Reply
from bot.photos import PhotoReplies
from bot.storage import Store
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, FakeClock, group_message

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES


class Echo(Commands):
    """A feature written for this test: the whole of what adding a command takes."""

    @command("echo", "回声", menu=Words("回声", "echo"), admins_only=True)
    @helps("/echo <文字> 原样回复", "/echo <text> say it back")
    async def echo_command(self, ctx: Context, args: str) -> list[Reply]:
        return [Reply(ctx.t("shortened", short=args, url=args))]


def core_with(suo: Suo, *features: Commands) -> Core:
    return Core(
        suo.store,
        LinkReplies(suo.shortener),
        PhotoReplies(suo.shortener),
        BindingReplies(suo.store, suo.clock),
        *features,
    )


async def test_a_new_feature_command_is_routed_helped_and_in_the_admins_menu(suo: Suo) -> None:
    core = core_with(suo, Echo())
    (reply,) = await core.handle(group_message("/echo hi"))
    assert "hi" in reply.text
    (alias,) = await core.handle(group_message("/回声 hi"))
    assert alias.text == reply.text
    # Addressed to the bot (WeCom's @mention), the bare word is the command too.
    addressed = replace(group_message("echo hi", platform="wecom"), addressed=True)
    assert (await core.handle(addressed))[0].text == reply.text

    (zh,) = await core.handle(group_message("/help"))
    assert "/echo <文字> 原样回复" in zh.text and "/short <网址> 生成短链接" in zh.text
    assert "/echo <text> say it back" in core.help_text("en", "telegram")

    menu = {e.name: e for e in core.menu("telegram")}
    assert menu["echo"].admins_only and menu["echo"].description == "回声 / echo"
    assert {e.name: e.description for e in core.menu("telegram", "en")}["echo"] == "echo"
    assert "short" in menu  # the other features are still there


def test_two_features_may_not_claim_one_name() -> None:
    class Loud(Commands):
        @command("shout", "回声")
        async def shout_command(self, ctx: Context, args: str) -> list[Reply]:
            return []

    router = Echo().router()
    with pytest.raises(ValueError, match="回声"):
        router.include_router(Loud().router())


def test_a_message_is_parsed_once_into_the_command_it_names() -> None:
    router = Echo().router()
    routed = router.match("/echo@suo_bot  a  b ")
    assert routed is not None and routed.command is not None
    assert (routed.parsed.name, routed.parsed.args, routed.parsed.addressed_to) == (
        "echo",
        "a  b",
        "suo_bot",
    )
    unknown = router.match("／nosuch x")
    assert unknown is not None and unknown.command is None  # answered "unknown command"
    # Without the slash only a message addressed to the bot names a command; other words
    # are what a member wrote.
    assert router.match("echo hi") is None
    assert router.match("echo hi", addressed=True) is not None
    assert router.match("hello there", addressed=True) is None
    assert parse_command("just text") is None


def counting(store: Store) -> tuple[list[int], Callable[[int, int], Awaitable[bool]]]:
    asked: list[int] = []
    real = store.is_group_admin

    async def is_group_admin(group_id: int, user_row_id: int) -> bool:
        asked.append(user_row_id)
        return await real(group_id, user_row_id)

    return asked, is_group_admin


@pytest.mark.parametrize("platform", ["console", "telegram", "wecom"])
async def test_only_commands_that_need_an_admin_ask_for_the_admin_list(
    suo: Suo, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    asked, is_group_admin = counting(suo.store)
    monkeypatch.setattr(suo.store, "is_group_admin", is_group_admin)

    def said(text: str) -> Awaitable[list[Reply]]:
        return suo.core.handle(group_message(text, platform=platform))

    (link,) = await said("看看 https://example.com/a")
    assert "https://suo.test/" in link.text
    await said("/top")
    await said("/settings")  # members may look
    assert asked == []
    (refused,) = await said("/settings auto off")
    assert "管理员" in refused.text
    assert len(asked) == 1


async def test_the_platforms_word_is_enough_and_asks_the_store_nothing(
    suo: Suo, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked, is_group_admin = counting(suo.store)
    monkeypatch.setattr(suo.store, "is_group_admin", is_group_admin)
    boss = replace(group_message("/settings auto off", user="boss"), is_admin=True)
    (reply,) = await suo.core.handle(boss)
    assert "管理员" not in reply.text
    assert asked == []


async def test_help_lists_what_each_platform_offers_in_the_groups_language(suo: Suo) -> None:
    for lang, usages in (
        ("zh-CN", ["/short <网址>", "/qr <文字或网址>", "/stats [7d|30d]", "/delete <短码>"]),
        ("en", ["/short <url>", "/qr <text or url>", "/stats [7d|30d]", "/delete <code>"]),
    ):
        text = suo.core.help_text(lang, "telegram")
        names = ["/help", "/top", "/mine", "/dashboard", "/digest", "/settings", "/block"]
        for shown in [*usages, *names, "/live create", "/live add", "/web"]:
            assert shown in text, (lang, shown)
        assert "/bind" not in text and "/admin" not in text
    english = await suo.store.upsert_group("console", "g1", "Group g1")
    await suo.store.set_group_lang(english.id, "en")
    (reply,) = await suo.core.handle(group_message("/帮助"))
    assert reply.text.startswith("suo.run short links") and "/short <url>" in reply.text


async def test_the_web_command_is_not_listed_where_the_page_is_off(
    config: Config, clock: FakeClock
) -> None:
    off = await Suo.open(replace(config, web=replace(config.web, enabled=False)), clock=clock)
    try:
        assert "/web" not in off.core.help_text("zh-CN", "telegram")
        assert "web" not in [e.name for e in off.core.menu("telegram")]
        assert off.core.router.route("web") is not None  # it still says the page is off
    finally:
        await off.shutdown()


def test_an_empty_router_lists_nothing() -> None:
    assert Router().menu("telegram") == [] and Router().help_lines("wecom") == []

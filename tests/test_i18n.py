"""The one text catalogue: every text in both languages with the same slots, and the pages'
templates reading only texts that exist, filling exactly the slots those texts have.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import cast

import pytest
from jinja2 import nodes

from bot.i18n import AREAS, LANGS, catalog, fill, texts, translate
from redirector.pages import TEMPLATES

# The texts each template's `t` holds: what its render function passes (included templates
# read those of the page that includes them).
TEMPLATE_AREAS = {
    "guide.html": "page",
    "platform.html": "page",
    "info.html": "page",
    "live_qr.html": "page",
    "_copy.html": "page",
    "_copy_script.html": "page",
    "web.html": "web",
    "dashboard.html": "dashboard",
}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_text_is_in_both_languages_with_the_same_slots() -> None:
    for key, entry in catalog().items():
        assert set(entry) == set(LANGS), key
        assert _fields(entry["zh-CN"]) == _fields(entry["en"]), key


def test_every_page_text_belongs_to_an_area_and_none_hides_a_common_one() -> None:
    page_keys = [key for key in catalog() if key.split(".", 1)[0] in (*AREAS, "common")]
    assert page_keys, "the pages' texts are in the catalogue"
    common = set(texts("en", "no-such-area"))
    assert common == {"home", "copied", "copy_failed"}
    for area in AREAS:
        own = {k.removeprefix(f"{area}.") for k in page_keys if k.startswith(f"{area}.")}
        assert not own & common, area
        # Templates read `t.key`: a key named like a mapping method would read the method.
        assert not own & set(dir(dict)), area


def _text_uses(template: str) -> Iterator[tuple[str, set[str] | None]]:
    """(key, slots filled or None) for every `t.key` in `template`."""
    assert TEMPLATES.loader is not None
    source = TEMPLATES.loader.get_source(TEMPLATES, template)[0]
    tree = TEMPLATES.parse(source)
    filled: dict[int, set[str]] = {}
    for applied in tree.find_all(nodes.Filter):
        if applied.name == "fill" and isinstance(applied.node, nodes.Getattr):
            # Jinja's stubs call these Pairs; a call's keyword arguments are Keywords.
            keywords = cast("list[nodes.Keyword]", applied.kwargs)
            filled[id(applied.node)] = {kw.key for kw in keywords}
    for read in tree.find_all(nodes.Getattr):
        if isinstance(read.node, nodes.Name) and read.node.name == "t":
            yield read.attr, filled.get(id(read))


@pytest.mark.parametrize("template", TEMPLATES.list_templates())
def test_templates_use_only_texts_that_exist_with_their_slots(template: str) -> None:
    uses = list(_text_uses(template))
    if not uses:
        return
    area = TEMPLATE_AREAS[template]
    for lang in LANGS:
        words = texts(lang, area)
        for key, slots in uses:
            assert key in words, f"{template}: t.{key}"
            assert _fields(words[key]) == (slots or set()), f"{template}: t.{key} slots"


def test_fill_writes_plurals_and_translate_falls_back_to_chinese() -> None:
    split = translate("en", "dashboard.previews_bots_split", previews="1", bots="2")
    assert split == "1 preview · 2 bots"
    assert fill("{n} {n:plural:bot|bots}", n="1,234") == "1,234 bots"
    assert translate("fr", "message.not_found.title") == "链接不存在"

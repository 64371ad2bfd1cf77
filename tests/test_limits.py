"""How fast members, groups and web visitors may create links: the limits hold in every
window, refusals say when to retry. A fake clock instead of sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.i18n import translate
from bot.limits import CreationLimiter, Refused


def _render(lang: str, key: str, **params: object) -> str:
    return translate(lang, key, **params)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _limiter(
    clock: FakeClock, *, per_member: int = 3, per_group: int = 5, max_keys: int = 10_000
) -> CreationLimiter:
    return CreationLimiter(
        clock,
        per_member=per_member,
        per_group=per_group,
        window=timedelta(minutes=1),
        max_keys=max_keys,
    )


def test_member_limit_refuses_the_next_creation_until_the_oldest_leaves() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    assert limiter.check("g", "alice") is None
    clock.advance(10)
    assert limiter.check("g", "alice") is None
    clock.advance(10)
    assert limiter.check("g", "alice") is None
    clock.advance(0.5)
    assert limiter.check("g", "alice") == Refused("member", 40)  # 39.5 s, rounded up
    clock.advance(39)
    assert limiter.check("g", "alice") == Refused("member", 1)  # 0.5 s left: at least 1
    clock.advance(0.5)
    assert limiter.check("g", "alice") is None  # the first creation left the window
    assert limiter.check("g", "alice") == Refused("member", 10)


def test_refused_creations_are_not_counted() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, per_member=1)
    assert limiter.check("g", "alice") is None
    for _ in range(5):
        clock.advance(10)
        assert limiter.check("g", "alice") is not None
    clock.advance(10)
    assert limiter.check("g", "alice") is None


def test_group_limit_counts_all_members() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, per_member=2, per_group=3)
    assert limiter.check("g", "alice") is None
    assert limiter.check("g", "alice") is None
    assert limiter.check("g", "bob") is None
    clock.advance(15)
    assert limiter.check("g", "carol") == Refused("group", 45)
    assert limiter.check("other", "carol") is None  # another group has its own budget


def test_member_limit_is_checked_before_the_group_limit() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, per_member=2, per_group=2)
    assert limiter.check("g", "alice") is None
    assert limiter.check("g", "alice") is None
    assert limiter.check("g", "alice") == Refused("member", 60)
    assert limiter.check("g", "bob") == Refused("group", 60)


def test_member_refused_by_the_group_keeps_their_own_budget() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, per_member=2, per_group=1)
    assert limiter.check("g", "bob") is None
    assert limiter.check("g", "alice") == Refused("group", 60)
    # Alice's refused attempt did not use her budget: in another group she has two.
    assert limiter.check("h", "alice") is None
    assert limiter.check("i", "alice") is None
    assert limiter.check("j", "alice") == Refused("member", 60)


def test_refusal_renders_as_a_user_error() -> None:
    error = Refused("member", 12).as_user_error()
    assert (error.code, error.message_key, error.params) == (
        "rate_limited",
        "rate_member",
        {"seconds": 12},
    )
    assert _render("zh-CN", error.message_key, **error.params) == (
        "你创建短链接太频繁了，请 12 秒后再试。"
    )
    group = Refused("group", 3).as_user_error()
    assert _render("en", group.message_key, **group.params) == (
        "This group is creating short links too fast; try again in 3 s."
    )


def test_idle_keys_are_dropped() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    for member in range(50):
        assert limiter.check(f"g{member}", member) is None
    assert limiter.tracked_keys() == 100
    clock.advance(61)
    assert limiter.check("g", "alice") is None
    assert limiter.tracked_keys() == 2


def test_tracked_keys_are_capped_and_the_least_recent_is_forgotten() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, per_member=1, per_group=100, max_keys=3)
    for member in ("a", "b", "c", "d"):
        assert limiter.check("g", member) is None
    assert limiter.tracked_keys() == 4  # 3 members + 1 group
    assert limiter.check("g", "d") == Refused("member", 60)
    assert limiter.check("g", "a") is None  # forgotten to stay within the cap


def test_a_clock_going_back_never_asks_for_more_than_the_window() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, per_member=1)
    assert limiter.check("g", "alice") is None
    clock.advance(-3600)
    assert limiter.check("g", "alice") == Refused("member", 60)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_member": 0, "per_group": 1, "window": timedelta(minutes=1)},
        {"per_member": 1, "per_group": 0, "window": timedelta(minutes=1)},
        {"per_member": 1, "per_group": 1, "window": timedelta(0)},
        {"per_member": 1, "per_group": 1, "window": timedelta(minutes=1), "max_keys": 0},
    ],
)
def test_limiter_rejects_meaningless_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        CreationLimiter(FakeClock(), **kwargs)  # type: ignore[arg-type]


def test_a_burst_spends_the_whole_window() -> None:
    # The promise is N per window, not N at once and then a steady drip: a leaky bucket of N
    # draining N per window (aiolimiter's AsyncLimiter) would admit one more every 20 s here.
    clock = FakeClock()
    limiter = _limiter(clock)  # 3 a minute
    for _ in range(3):
        assert limiter.check("g", "alice") is None
    clock.advance(20)
    assert limiter.check("g", "alice") == Refused("member", 40)
    clock.advance(20)
    assert limiter.check("g", "alice") == Refused("member", 20)
    clock.advance(20)
    assert limiter.check("g", "alice") is None

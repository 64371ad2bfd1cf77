"""Creation rate limits: how many new links a member and a group (or a web visitor and the
whole web form) may create per window, and how long a refused creator waits. Pure: time
comes from a `Clock`.

A sliding-window log rather than aiolimiter's leaky bucket: the promise in the config is "at
most N new links within the window", and a bucket of N that drains at N per window lets a
member who bursts N links add one more every window/N seconds, close to 2N in one window.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from bot.clock import Clock, epoch_seconds
from bot.errors import UserError


@dataclass(frozen=True, slots=True)
class Refused:
    """A creation the limiter turned down: whose limit (`scope`) and whole seconds to wait."""

    scope: Literal["member", "group"]
    retry_after: int

    def as_user_error(self) -> UserError:
        key = f"rate_{self.scope}"
        return UserError("rate_limited", key, seconds=self.retry_after)


class CreationLimiter:
    """At most `per_member` link creations per member and `per_group` per group in any
    `window`.

    A sliding-window log: each key keeps the times of its creations within the window (at
    most its limit), so the limit holds for every window, not only aligned ones, and the wait
    is exact: until the oldest creation leaves the window. Member and group keys are separate
    namespaces; pass a platform-qualified member key for a limit across the member's groups,
    or (group, member) for one per group. At most `max_keys` keys per namespace are tracked;
    beyond that the least recently used is forgotten (it may then create again early).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        per_member: int,
        per_group: int,
        window: timedelta,
        max_keys: int = 10_000,
    ) -> None:
        if per_member < 1 or per_group < 1 or max_keys < 1:
            raise ValueError("per_member, per_group and max_keys must be at least 1")
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        self._now = epoch_seconds(clock)
        self._window = window.total_seconds()
        self._limits = {"member": per_member, "group": per_group}
        self._max_keys = max_keys
        self._logs: dict[str, OrderedDict[object, deque[float]]] = {
            "member": OrderedDict(),
            "group": OrderedDict(),
        }

    def check(self, group_key: object, member_key: object) -> Refused | None:
        """None when a creation is allowed now (and count it), else who refused and how long
        to wait (and count nothing). The member's limit is checked before the group's."""
        now = self._now()
        keys: dict[Literal["member", "group"], object] = {
            "member": member_key,
            "group": group_key,
        }
        for scope, key in keys.items():
            log = self._recent(scope, key, now)
            if len(log) >= self._limits[scope]:
                wait = log[0] + self._window - now
                return Refused(scope, max(1, min(math.ceil(wait), math.ceil(self._window))))
        for scope, key in keys.items():
            self._record(scope, key, now)
        return None

    def tracked_keys(self) -> int:
        """How many member and group keys are held in memory."""
        return sum(len(logs) for logs in self._logs.values())

    def _recent(self, scope: str, key: object, now: float) -> deque[float]:
        """`key`'s creations still inside the window (older ones are dropped)."""
        logs = self._logs[scope]
        log = logs.get(key)
        if log is None:
            return deque()
        while log and log[0] <= now - self._window:
            log.popleft()
        if not log:
            del logs[key]
        return log

    def _record(self, scope: str, key: object, now: float) -> None:
        logs = self._logs[scope]
        self._forget_idle(logs, now)
        log = logs.get(key)
        if log is None:
            if len(logs) >= self._max_keys:
                logs.popitem(last=False)
            log = logs[key] = deque()
        logs.move_to_end(key)
        log.append(now)

    def _forget_idle(self, logs: OrderedDict[object, deque[float]], now: float) -> None:
        """Drop keys with nothing left inside the window. Keys are ordered by their latest
        creation, so the idle ones are at the front and this costs O(dropped)."""
        while logs:
            key, log = next(iter(logs.items()))
            if log and log[-1] > now - self._window:
                return
            del logs[key]

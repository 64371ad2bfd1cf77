"""What a redirector process keeps of the links in memory: the bounded LRU of looked-up
links, the short-lived memory of unknown codes, and the opens it reserved in blocks.

Invalidation (`LinkCache.forget`) comes from this process's chat commands and from the
store's change feed (`follow_link_changes`), which every process polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.storage import LinkChanges, Links

log = logging.getLogger(__name__)

Entry = TypeVar("Entry")

LINKS_MAX = 200_000
MISSING_MAX = 100_000
# Unknown codes are remembered this long: a scanner's spray of random codes is answered
# from memory, and a code created meanwhile in another process is found after at most this.
MISSING_SECONDS = 2.0
POLL_SECONDS = 0.5
# Opens reserved per trip to the store: a sixteenth of the limit (at most BLOCK_MAX), so a
# process holds at most that many unspent, and limits under 32 go one or two at a time.
BLOCK_SHARE = 16
BLOCK_MAX = 256
# A link found exhausted is asked again after this long: another process may give back opens.
EXHAUSTED_SECONDS = 1.0


class LinkCache(Generic[Entry]):
    """Links by code, least recently used dropped first, and codes known not to exist."""

    def __init__(
        self,
        max_links: int = LINKS_MAX,
        max_missing: int = MISSING_MAX,
        missing_seconds: float = MISSING_SECONDS,
    ) -> None:
        # Public for the fast path, which reads it with no call in between.
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self._missing: OrderedDict[str, float] = OrderedDict()
        self._max_links = max_links
        self._max_missing = max_missing
        self._missing_seconds = missing_seconds

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, code: str) -> Entry | None:
        entry = self.entries.get(code)
        if entry is not None:
            self.entries.move_to_end(code)
        return entry

    def put(self, code: str, entry: Entry) -> None:
        self._missing.pop(code, None)
        put_newest(self.entries, code, entry, self._max_links)

    def is_missing(self, code: str, now: float) -> bool:
        """True while `code` was recently looked up and not found."""
        at = self._missing.get(code)
        return at is not None and now - at < self._missing_seconds

    def mark_missing(self, code: str, now: float) -> None:
        self.entries.pop(code, None)
        put_newest(self._missing, code, now, self._max_missing)

    def forget(self, code: str | None) -> None:
        """Drop what is known of `code` (None: of every code)."""
        if code is None:
            self.entries.clear()
            self._missing.clear()
        else:
            self.entries.pop(code, None)
            self._missing.pop(code, None)


Key = TypeVar("Key")
Value = TypeVar("Value")


def put_newest(items: OrderedDict[Key, Value], key: Key, value: Value, limit: int) -> None:
    """Store `key` as the most recently used, dropping the least recently used past `limit`."""
    items[key] = value
    items.move_to_end(key)
    if len(items) > limit:
        items.popitem(last=False)


@dataclass(slots=True)
class _Block:
    """One link's reservation in this process (mutable: spent open by open)."""

    left: int = 0  # reserved in the store, not yet spent
    exhausted_at: float | None = None  # the store had none left for us then


class OpenBlocks:
    """Human opens of limited links, reserved from the store in blocks and spent here.

    Never over max_clicks: every open spent was counted in the store first, by one atomic
    reservation, whatever the number of processes. The cost: opens reserved by a process
    killed with -9 are lost (the link closes early by at most that process's blocks); a
    clean shutdown, and a change to the link, give the unused ones back.
    """

    def __init__(self, store: Links) -> None:
        self.store = store
        self._blocks: dict[str, _Block] = {}
        self._returns: set[asyncio.Task[None]] = set()

    async def take(self, code: str, max_clicks: int, now: float) -> bool:
        """One human open of `code`: False when none are left."""
        block = self._blocks.get(code)
        if block is None:
            block = self._blocks[code] = _Block()
        if block.left == 0:
            if block.exhausted_at is not None and now - block.exhausted_at < EXHAUSTED_SECONDS:
                return False
            wanted = min(BLOCK_MAX, max(1, max_clicks // BLOCK_SHARE))
            got = await self.store.reserve_human_opens(code, wanted)
            block = self._blocks.setdefault(code, block)
            block.left += got
            block.exhausted_at = None if block.left else now
            if not block.left:
                return False
        block.left -= 1
        return True

    def known_exhausted(self, code: str) -> bool | None:
        """True/False when this process knows whether opens are left, None when it must ask."""
        block = self._blocks.get(code)
        if block is None:
            return None
        if block.left:
            return False
        return True if block.exhausted_at is not None else None

    def forget(self, code: str | None) -> None:
        """The link changed (its limit may have): give its unused opens back, in the
        background (an invalidation must not wait for the store)."""
        codes = list(self._blocks) if code is None else [code]
        for each in codes:
            block = self._blocks.pop(each, None)
            if block is not None and block.left:
                task = asyncio.get_running_loop().create_task(self._give_back(each, block.left))
                self._returns.add(task)
                task.add_done_callback(self._returns.discard)

    async def give_back_all(self) -> None:
        """At shutdown: every unused open back to the store, and the returns underway done."""
        blocks, self._blocks = self._blocks, {}
        for code, block in blocks.items():
            if block.left:
                await self._give_back(code, block.left)
        if self._returns:
            await asyncio.gather(*self._returns)

    async def _give_back(self, code: str, unused: int) -> None:
        try:
            await self.store.return_human_opens(code, unused)
        except Exception:
            # Lost opens close the link early; they never let it overshoot.
            log.warning("could not give back %d opens code=%s", unused, code, exc_info=True)


async def follow_link_changes(
    store: LinkChanges,
    forget: Callable[[str | None], None],
    *,
    poll_seconds: float = POLL_SECONDS,
) -> asyncio.Task[None]:
    """Forget every link another process (or this one) changes, from now until the task
    returned is cancelled: pushed changes at once where the engine pushes, and a poll of the
    change table every `poll_seconds` as the fallback (one indexed query). Returns once
    listening and the starting point are set, so no change made after it is missed."""
    wake = asyncio.Event()

    def pushed(code: str) -> None:
        forget(code)
        wake.set()

    stop_watch = None
    try:
        stop_watch = await store.watch_link_changes(pushed)
    except Exception:
        log.warning("link change push unavailable; polling only", exc_info=True)
    seq = await _poll_once(store, forget, -1)

    async def follow(seq: int) -> None:
        try:
            while True:
                wake.clear()
                # A pushed change wakes the poll early: it catches what else came with it.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), poll_seconds)
                seq = await _poll_once(store, forget, seq)
        finally:
            if stop_watch is not None:
                await stop_watch()

    return asyncio.get_running_loop().create_task(follow(seq))


async def _poll_once(store: LinkChanges, forget: Callable[[str | None], None], seq: int) -> int:
    """One poll: forget the codes changed after `seq`; the number to poll after next."""
    try:
        latest, codes = await store.link_changes_since(seq)
    except Exception:
        log.warning("link change poll failed; will try again", exc_info=True)
        return seq
    for code in dict.fromkeys(codes):
        forget(code)
    return latest

"""The reader's address behind reverse proxies, believed only from proxies we trust.

Feeds the daily visitor hash; the address itself is never stored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from aiohttp import web


class ClientAddress:
    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)
        self._is_trusted = lru_cache(maxsize=1024)(self._check)

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def of(self, request: web.BaseRequest) -> str:
        """The peer, or (when the peer is a trusted proxy) the nearest untrusted hop of
        X-Forwarded-For. Reading right to left means a client cannot forge its way in."""
        peer = request.remote or ""
        if not self._trusted or not self._is_trusted(peer):
            return peer
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            if not self._is_trusted(hop):
                return hop
        return peer

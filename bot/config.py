"""Configuration: one TOML file read once into frozen dataclasses.

Secrets may come from the environment (SUO_SECRET, ...); a bad value raises
`ConfigError` naming its key.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_SPILL_PATH = "suo-clicks.spill.jsonl"


class ConfigError(Exception):
    """A config value is missing or wrong; the message names the key."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    secret: str = field(default="", repr=False)
    # Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs); empty: use the peer.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StorageConfig:
    url: str = "sqlite:///suo.db"


@dataclass(frozen=True, slots=True)
class LinksConfig:
    code_length: int = 7
    max_url_length: int = 2048
    blocked_domains: tuple[str, ...] = ()
    # New links per member and per group within the window (reused links are free).
    member_limit: int = 20
    group_limit: int = 100
    limit_window_seconds: int = 600


@dataclass(frozen=True, slots=True)
class ClicksConfig:
    flush_interval_ms: int = 200
    batch_size: int = 500
    spill_path: str = DEFAULT_SPILL_PATH


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    group: str = "console"
    member: str = "me"
    qr_dir: str = "suo-qr"
    lang: str = "zh-CN"


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    token: str = field(default="", repr=False)
    api_base_url: str = "https://api.telegram.org/bot"
    file_base_url: str = "https://api.telegram.org/file/bot"
    mode: str = "polling"
    webhook_secret: str = field(default="", repr=False)
    webhook_path: str = "/telegram/webhook"
    link_previews: bool = False
    admin_cache_seconds: int = 300

    @property
    def enabled(self) -> bool:
        return bool(self.token)


@dataclass(frozen=True, slots=True)
class WeComConfig:
    token: str = field(default="", repr=False)
    encoding_aes_key: str = field(default="", repr=False)
    callback_path: str = "/wecom/callback"
    webhook_base_url: str = "https://qyapi.weixin.qq.com"
    admins: tuple[str, ...] = ()
    reply_deadline_ms: int = 4000

    @property
    def enabled(self) -> bool:
        return bool(self.token and self.encoding_aes_key)


@dataclass(frozen=True, slots=True)
class DigestConfig:
    """The weekly digest: sent once per group and week, however many processes run."""

    enabled: bool = True
    # A process that was down at a group's digest time sends it on start within this window.
    grace_hours: int = 24
    font_path: str = ""  # a CJK-capable TTF/OTF/TTC for chart labels; else common paths
    # A run claimed but not finished within this lease (its process died) may be taken again.
    lease_minutes: int = 10
    retry_attempts: int = 3
    retry_backoff_seconds: int = 30  # doubles after each failed attempt

    @property
    def retry_backoff_total(self) -> int:
        """Seconds one run may spend waiting between its attempts."""
        return self.retry_backoff_seconds * ((1 << (self.retry_attempts - 1)) - 1)


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The page at `GET /` of the redirector: shorten a link, read QR photos."""

    enabled: bool = True
    # When set, the page opens only with `?key=<access_token>` (then remembered in a cookie)
    # or through a signed link from the chat `web` command: a private instance.
    access_token: str = field(default="", repr=False)
    # Forms sent per reader address per minute, and by everyone together per minute.
    per_ip_per_minute: int = 20
    total_per_minute: int = 600
    max_upload_mb: int = 10

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    links: LinksConfig = LinksConfig()
    clicks: ClicksConfig = ClicksConfig()
    console: ConsoleConfig = ConsoleConfig()
    telegram: TelegramConfig = TelegramConfig()
    wecom: WeComConfig = WeComConfig()
    digest: DigestConfig = DigestConfig()
    web: WebConfig = WebConfig()


def _networks(values: list[Any]) -> tuple[str, ...]:
    for value in values:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError as e:
            raise ConfigError(
                f"server.trusted_proxies must list IPs or CIDRs, got {value!r}"
            ) from e
    return tuple(str(v) for v in values)


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


# Values never echoed in an error (nor logged): a config error must not print a token.
SECRET_KEYS = frozenset(
    {
        ("server", "secret"),
        ("telegram", "token"),
        ("telegram", "webhook_secret"),
        ("wecom", "token"),
        ("wecom", "encoding_aes_key"),
        ("web", "access_token"),
    }
)


def secret_values(config: Config) -> list[str]:
    """The configured secrets as they could appear in text, for log redaction."""
    values = [
        config.server.secret,
        config.telegram.token,
        config.telegram.token.partition(":")[2],  # the part after the bot id
        config.telegram.webhook_secret,
        config.wecom.token,
        config.wecom.encoding_aes_key,
        config.web.access_token,
    ]
    with contextlib.suppress(ValueError):
        values.append(urlsplit(config.storage.url).password or "")
    return [v for v in values if v]


def without_password(url: str) -> str:
    """`url` with any password in it replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    if not password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def _get(table: Mapping[str, Any], section: str, key: str, kind: type, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    # bool is an int subclass in Python; a port of `true` is a mistake, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        shown = f"a {type(value).__name__}" if (section, key) in SECRET_KEYS else repr(value)
        raise ConfigError(f"{section}.{key} must be {kind.__name__}, got {shown}")
    return value


def _positive(section: str, key: str, value: int, *, low: int = 1, high: int = 10**9) -> int:
    if not low <= value <= high:
        raise ConfigError(f"{section}.{key} must be between {low} and {high}, got {value}")
    return value


def parse_config(data: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    known = {
        "server",
        "storage",
        "links",
        "clicks",
        "console",
        "telegram",
        "wecom",
        "digest",
        "web",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config section [{unknown[0]}]")

    s = _table(data, "server")
    d = ServerConfig()
    public_url = str(_get(s, "server", "public_url", str, "")).rstrip("/")
    host = _get(s, "server", "host", str, d.host)
    port = _positive("server", "port", _get(s, "server", "port", int, d.port), low=0, high=65535)
    if not public_url:
        public_url = f"http://{host}:{port}"
    if urlsplit(public_url).scheme not in ("http", "https") or not urlsplit(public_url).netloc:
        raise ConfigError(f"server.public_url must be an http(s) URL, got {public_url!r}")
    server = ServerConfig(
        host=host,
        port=port,
        public_url=public_url,
        secret=env.get("SUO_SECRET") or _get(s, "server", "secret", str, ""),
        trusted_proxies=_networks(_get(s, "server", "trusted_proxies", list, [])),
    )

    st = _table(data, "storage")
    storage_url = env.get("SUO_STORAGE_URL") or _get(st, "storage", "url", str, "sqlite:///suo.db")
    if not storage_url.startswith("sqlite:///"):
        shown = without_password(storage_url)
        raise ConfigError(f"storage.url must start with sqlite:///, got {shown!r}")

    lk = _table(data, "links")
    blocked = _get(lk, "links", "blocked_domains", list, [])
    if not all(isinstance(b, str) for b in blocked):
        raise ConfigError("links.blocked_domains must be a list of strings")
    links = LinksConfig(
        code_length=_positive(
            "links", "code_length", _get(lk, "links", "code_length", int, 7), low=4, high=32
        ),
        max_url_length=_positive(
            "links", "max_url_length", _get(lk, "links", "max_url_length", int, 2048), high=8192
        ),
        blocked_domains=tuple(b.strip().lower().lstrip(".") for b in blocked if b.strip()),
        member_limit=_positive(
            "links", "member_limit", _get(lk, "links", "member_limit", int, 20)
        ),
        group_limit=_positive("links", "group_limit", _get(lk, "links", "group_limit", int, 100)),
        limit_window_seconds=_positive(
            "links",
            "limit_window_seconds",
            _get(lk, "links", "limit_window_seconds", int, 600),
            high=86400,
        ),
    )

    c = _table(data, "clicks")
    clicks = ClicksConfig(
        flush_interval_ms=_positive(
            "clicks", "flush_interval_ms", _get(c, "clicks", "flush_interval_ms", int, 200)
        ),
        batch_size=_positive("clicks", "batch_size", _get(c, "clicks", "batch_size", int, 500)),
        spill_path=_get(c, "clicks", "spill_path", str, DEFAULT_SPILL_PATH),
    )

    co = _table(data, "console")
    lang = _get(co, "console", "lang", str, "zh-CN")
    if lang not in ("zh-CN", "en"):
        raise ConfigError(f"console.lang must be zh-CN or en, got {lang!r}")
    console = ConsoleConfig(
        group=_get(co, "console", "group", str, "console"),
        member=_get(co, "console", "member", str, "me"),
        qr_dir=_get(co, "console", "qr_dir", str, "suo-qr"),
        lang=lang,
    )
    telegram = _telegram(_table(data, "telegram"), env)
    return Config(
        wecom=_wecom(_table(data, "wecom"), env),
        telegram=telegram,
        server=server,
        storage=StorageConfig(url=storage_url),
        links=links,
        clicks=clicks,
        console=console,
        digest=_digest(_table(data, "digest")),
        web=_web(_table(data, "web"), env),
    )


def _web(t: Mapping[str, Any], env: Mapping[str, str]) -> WebConfig:
    d = WebConfig()
    return WebConfig(
        enabled=_get(t, "web", "enabled", bool, d.enabled),
        access_token=env.get("SUO_WEB_ACCESS_TOKEN")
        or _get(t, "web", "access_token", str, d.access_token),
        per_ip_per_minute=_positive(
            "web",
            "per_ip_per_minute",
            _get(t, "web", "per_ip_per_minute", int, d.per_ip_per_minute),
            high=10_000,
        ),
        total_per_minute=_positive(
            "web",
            "total_per_minute",
            _get(t, "web", "total_per_minute", int, d.total_per_minute),
            high=1_000_000,
        ),
        # The QR decoder refuses files over 20 MB whatever the page accepts.
        max_upload_mb=_positive(
            "web", "max_upload_mb", _get(t, "web", "max_upload_mb", int, d.max_upload_mb), high=20
        ),
    )


def _digest(t: Mapping[str, Any]) -> DigestConfig:
    d = DigestConfig()
    config = DigestConfig(
        enabled=_get(t, "digest", "enabled", bool, d.enabled),
        grace_hours=_positive(
            "digest", "grace_hours", _get(t, "digest", "grace_hours", int, d.grace_hours), high=168
        ),
        font_path=_get(t, "digest", "font_path", str, d.font_path),
        lease_minutes=_positive(
            "digest",
            "lease_minutes",
            _get(t, "digest", "lease_minutes", int, d.lease_minutes),
            high=1440,
        ),
        retry_attempts=_positive(
            "digest",
            "retry_attempts",
            _get(t, "digest", "retry_attempts", int, d.retry_attempts),
            high=10,
        ),
        retry_backoff_seconds=_positive(
            "digest",
            "retry_backoff_seconds",
            _get(t, "digest", "retry_backoff_seconds", int, d.retry_backoff_seconds),
            low=0,
            high=3600,
        ),
    )
    if config.font_path and not Path(config.font_path).is_file():
        raise ConfigError(f"digest.font_path is not a file: {config.font_path!r}")
    if config.retry_backoff_total >= config.lease_minutes * 60:
        # Past the lease another process may take the run over while this one still retries.
        raise ConfigError(
            f"digest.lease_minutes ({config.lease_minutes}) must be longer than the retries' "
            f"waits ({config.retry_backoff_total} s from retry_attempts and "
            "retry_backoff_seconds)"
        )
    return config


def _telegram(t: Mapping[str, Any], env: Mapping[str, str]) -> TelegramConfig:
    d = TelegramConfig()
    mode = _get(t, "telegram", "mode", str, d.mode)
    if mode not in ("polling", "webhook"):
        raise ConfigError(f"telegram.mode must be polling or webhook, got {mode!r}")
    config = TelegramConfig(
        token=env.get("SUO_TELEGRAM_TOKEN") or _get(t, "telegram", "token", str, ""),
        api_base_url=_get(t, "telegram", "api_base_url", str, d.api_base_url),
        file_base_url=_get(t, "telegram", "file_base_url", str, d.file_base_url),
        mode=mode,
        webhook_secret=env.get("SUO_TELEGRAM_WEBHOOK_SECRET")
        or _get(t, "telegram", "webhook_secret", str, ""),
        webhook_path=_get(t, "telegram", "webhook_path", str, d.webhook_path),
        link_previews=_get(t, "telegram", "link_previews", bool, d.link_previews),
        admin_cache_seconds=_positive(
            "telegram",
            "admin_cache_seconds",
            _get(t, "telegram", "admin_cache_seconds", int, d.admin_cache_seconds),
            low=0,
        ),
    )
    for key in ("api_base_url", "file_base_url"):
        if urlsplit(getattr(config, key)).scheme not in ("http", "https"):
            raise ConfigError(f"telegram.{key} must be an http(s) URL")
    if not config.webhook_path.startswith("/"):
        raise ConfigError("telegram.webhook_path must start with /")
    secret_ok = re.fullmatch(r"[A-Za-z0-9_-]{16,256}", config.webhook_secret) is not None
    if config.enabled and config.mode == "webhook" and not secret_ok:
        # Without the secret anyone who learns the path could post fake updates.
        raise ConfigError(
            "telegram.webhook_secret (or SUO_TELEGRAM_WEBHOOK_SECRET) must be set, "
            "at least 16 characters [A-Za-z0-9_-], in webhook mode"
        )
    return config


def _wecom(w: Mapping[str, Any], env: Mapping[str, str]) -> WeComConfig:
    d = WeComConfig()
    admins = _get(w, "wecom", "admins", list, [])
    if not all(isinstance(a, str) and a for a in admins):
        raise ConfigError("wecom.admins must be a list of WeCom user ids")
    config = WeComConfig(
        token=env.get("SUO_WECOM_TOKEN") or _get(w, "wecom", "token", str, ""),
        encoding_aes_key=env.get("SUO_WECOM_AES_KEY")
        or _get(w, "wecom", "encoding_aes_key", str, ""),
        callback_path=_get(w, "wecom", "callback_path", str, d.callback_path),
        webhook_base_url=_get(w, "wecom", "webhook_base_url", str, d.webhook_base_url).rstrip("/"),
        admins=tuple(admins),
        reply_deadline_ms=_positive(
            "wecom",
            "reply_deadline_ms",
            _get(w, "wecom", "reply_deadline_ms", int, d.reply_deadline_ms),
            low=100,
            high=4500,
        ),
    )
    if (
        config.encoding_aes_key
        and re.fullmatch(r"[A-Za-z0-9]{43}", config.encoding_aes_key) is None
    ):
        raise ConfigError(
            "wecom.encoding_aes_key (or SUO_WECOM_AES_KEY) must be 43 letters/digits"
        )
    if bool(config.token) != bool(config.encoding_aes_key):
        raise ConfigError("wecom.token and wecom.encoding_aes_key must be set together")
    if not config.callback_path.startswith("/"):
        raise ConfigError("wecom.callback_path must start with /")
    if urlsplit(config.webhook_base_url).scheme not in ("http", "https"):
        raise ConfigError("wecom.webhook_base_url must be an http(s) URL")
    return config


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read `path` (or built-in defaults when None) and apply environment overrides."""
    env = os.environ if env is None else env
    if path is None:
        return parse_config({}, env)
    try:
        with Path(path).open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
    return parse_config(data, env)

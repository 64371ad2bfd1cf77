"""Configuration: one TOML file read once into frozen dataclasses.

Each key is declared once, as a dataclass field with its type, default, environment variable,
secrecy and check (`setting`); one parser walks the declarations. A bad value raises
`ConfigError` naming its key, and never echoes a secret.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_SPILL_PATH = "suo-clicks.spill.jsonl"

T = TypeVar("T")
# Takes the dotted key ("links.code_length") and the value read; returns the value to keep.
Check = Callable[[str, Any], Any]


class ConfigError(Exception):
    """A config value is missing or wrong; the message names the key."""


def setting(default: T, *, env: str = "", secret: bool = False, check: Check | None = None) -> T:
    """Declare a config key: `env` (when set and non-empty) wins over the file; a secret is
    kept out of repr() and error messages and redacted from logs; `check` validates it."""
    metadata = {"env": env, "secret": secret, "check": check}
    return field(default=default, repr=not secret, metadata=metadata)


def between(low: int = 1, high: int = 10**9) -> Check:
    def check(key: str, value: int) -> int:
        if not low <= value <= high:
            raise ConfigError(f"{key} must be between {low} and {high}, got {value}")
        return value

    return check


def one_of(*choices: str) -> Check:
    def check(key: str, value: str) -> str:
        if value not in choices:
            raise ConfigError(f"{key} must be {' or '.join(choices)}, got {value!r}")
        return value

    return check


def http_url(key: str, value: str) -> str:
    """An http(s) base URL, without the trailing slash paths are joined to."""
    value = value.rstrip("/")
    if urlsplit(value).scheme not in ("http", "https"):
        raise ConfigError(f"{key} must be an http(s) URL")
    return value


def api_base(key: str, value: str) -> str:
    """Like `http_url`, but kept as written: PTB appends the token right after it."""
    http_url(key, value)
    return value


def url_path(key: str, value: str) -> str:
    if not value.startswith("/"):
        raise ConfigError(f"{key} must start with /")
    return value


def networks(key: str, values: tuple[Any, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError as e:
            raise ConfigError(f"{key} must list IPs or CIDRs, got {value!r}") from e
    return tuple(str(v) for v in values)


def domains(key: str, values: tuple[Any, ...]) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{key} must be a list of strings")
    return tuple(v.strip().lower().lstrip(".") for v in values if v.strip())


def user_ids(key: str, values: tuple[Any, ...]) -> tuple[str, ...]:
    if not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"{key} must be a list of WeCom user ids")
    return values


def storage_url(key: str, value: str) -> str:
    if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(
            f"{key} must start with sqlite:/// or postgresql://, got {without_password(value)!r}"
        )
    return value


def aes_key(key: str, value: str) -> str:
    if value and re.fullmatch(r"[A-Za-z0-9]{43}", value) is None:
        raise ConfigError(f"{key} (or SUO_WECOM_AES_KEY) must be 43 letters/digits")
    return value


def existing_file(key: str, value: str) -> str:
    if value and not Path(value).is_file():
        raise ConfigError(f"{key} is not a file: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = setting("127.0.0.1")
    port: int = setting(8080, check=between(0, 65535))
    # Empty in the file: http://host:port (see _derive_public_url).
    public_url: str = setting("http://127.0.0.1:8080", check=lambda _, v: v.rstrip("/"))
    secret: str = setting("", env="SUO_SECRET", secret=True)
    # Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs); empty: use the peer.
    trusted_proxies: tuple[str, ...] = setting((), check=networks)
    # Who may read /metrics and /healthz (IPs or CIDRs; behind a trusted proxy, the reader it
    # names); others get a 404. Loopback: the Prometheus or load balancer on this box.
    metrics_from: tuple[str, ...] = setting(("127.0.0.1", "::1"), check=networks)
    # A connection that sends no request for this long is closed, before its first request as
    # between keep-alive ones: idle connections would otherwise hold every open file.
    idle_timeout_seconds: int = setting(5, check=between(1, 3600))


@dataclass(frozen=True, slots=True)
class StorageConfig:
    url: str = setting("sqlite:///suo.db", env="SUO_STORAGE_URL", check=storage_url)
    # PostgreSQL only: connections each process keeps open, and the most it opens under load.
    pool_min: int = setting(1, check=between(0, 1000))
    pool_max: int = setting(10, check=between(1, 1000))


@dataclass(frozen=True, slots=True)
class LinksConfig:
    code_length: int = setting(7, check=between(4, 32))
    max_url_length: int = setting(2048, check=between(high=8192))
    blocked_domains: tuple[str, ...] = setting((), check=domains)
    # New links per member and per group within the window (reused links are free).
    member_limit: int = setting(20, check=between())
    group_limit: int = setting(100, check=between())
    limit_window_seconds: int = setting(600, check=between(high=86400))


@dataclass(frozen=True, slots=True)
class ClicksConfig:
    flush_interval_ms: int = setting(200, check=between())
    batch_size: int = setting(500, check=between())
    spill_path: str = setting(DEFAULT_SPILL_PATH)


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    group: str = setting("console")
    member: str = setting("me")
    qr_dir: str = setting("suo-qr")
    lang: str = setting("zh-CN", check=one_of("zh-CN", "en"))


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    token: str = setting("", env="SUO_TELEGRAM_TOKEN", secret=True)
    api_base_url: str = setting("https://api.telegram.org/bot", check=api_base)
    file_base_url: str = setting("https://api.telegram.org/file/bot", check=api_base)
    mode: str = setting("polling", check=one_of("polling", "webhook"))
    webhook_secret: str = setting("", env="SUO_TELEGRAM_WEBHOOK_SECRET", secret=True)
    webhook_path: str = setting("/telegram/webhook", check=url_path)
    link_previews: bool = setting(False)
    admin_cache_seconds: int = setting(300, check=between(0))

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def uses_webhook(self) -> bool:
        return self.mode == "webhook"


# Where WeCom's AI bot callbacks point (developer.work.weixin.qq.com/document/path/...):
# 100719 接收消息, 图片 url "图片的下载url, 该url五分钟内有效", every example on
# ww-aibot-img-1258476243.cos.ap-guangzhou.myqcloud.com; 101138 主动回复消息, "假设
# response_url 是: https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=...".
WECOM_FETCH_HOSTS = (
    "ww-aibot-img-1258476243.cos.ap-guangzhou.myqcloud.com",
    "qyapi.weixin.qq.com",
)


@dataclass(frozen=True, slots=True)
class WeComConfig:
    token: str = setting("", env="SUO_WECOM_TOKEN", secret=True)
    encoding_aes_key: str = setting("", env="SUO_WECOM_AES_KEY", secret=True, check=aes_key)
    callback_path: str = setting("/wecom/callback", check=url_path)
    webhook_base_url: str = setting("https://qyapi.weixin.qq.com", check=http_url)
    admins: tuple[str, ...] = setting((), check=user_ids)
    reply_deadline_ms: int = setting(4000, check=between(100, 4500))
    # The only hosts a callback's image URLs and response_url may point at (exact host names):
    # a callback names URLs suo then fetches or posts to, so nothing else is ever contacted.
    fetch_hosts: tuple[str, ...] = setting(WECOM_FETCH_HOSTS, check=domains)

    @property
    def enabled(self) -> bool:
        return bool(self.token and self.encoding_aes_key)


@dataclass(frozen=True, slots=True)
class DigestConfig:
    """The weekly digest: sent once per group and week, however many processes run."""

    enabled: bool = setting(True)
    # A process that was down at a group's digest time sends it on start within this window.
    grace_hours: int = setting(24, check=between(high=168))
    # A CJK-capable TTF/OTF/TTC for chart labels; else common paths.
    font_path: str = setting("", check=existing_file)
    # A run claimed but not finished within this lease (its process died) may be taken again.
    lease_minutes: int = setting(10, check=between(high=1440))
    retry_attempts: int = setting(3, check=between(high=10))
    # Doubles after each failed attempt.
    retry_backoff_seconds: int = setting(30, check=between(0, 3600))

    @property
    def retry_backoff_total(self) -> int:
        """Seconds one run may spend waiting between its attempts."""
        return self.retry_backoff_seconds * ((1 << (self.retry_attempts - 1)) - 1)


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The page at `GET /` of the redirector: shorten a link, read QR photos."""

    enabled: bool = setting(True)
    # When set, the page opens only with `?key=<access_token>` (then remembered in a cookie)
    # or through a signed link from the chat `web` command: a private instance.
    access_token: str = setting("", env="SUO_WEB_ACCESS_TOKEN", secret=True)
    # Forms sent per reader address per minute, and by everyone together per minute.
    per_ip_per_minute: int = setting(20, check=between(high=10_000))
    total_per_minute: int = setting(600, check=between(high=1_000_000))
    # The QR decoder refuses files over 20 MB whatever the page accepts.
    max_upload_mb: int = setting(10, check=between(high=20))

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

    @property
    def has_platform(self) -> bool:
        """True when a real chat platform is configured (so no console group is needed)."""
        return self.telegram.enabled or self.wecom.enabled


# Each section's dataclass, in the order sections are read (and errors found).
SECTIONS: dict[str, type[Any]] = typing.get_type_hints(Config)

# Values never echoed in an error (nor logged): a config error must not print a token.
SECRET_KEYS = frozenset(
    (section, f.name)
    for section, cls in SECTIONS.items()
    for f in fields(cls)
    if f.metadata["secret"]
)


def secret_values(config: Config) -> list[str]:
    """The configured secrets as they could appear in text, for log redaction."""
    values = [str(getattr(getattr(config, section), key)) for section, key in SECRET_KEYS]
    values.append(config.telegram.token.partition(":")[2])  # the part after the bot id
    with contextlib.suppress(ValueError):
        password = urlsplit(config.storage.url).password or ""
        # As written in the URL, and as the driver sends it (a %40 in the URL is an @).
        values += [password, unquote(password)]
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


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _toml_type(hint: Any) -> type:
    """The TOML value a field is written as: a tuple field is a TOML array."""
    return list if typing.get_origin(hint) is tuple else typing.cast(type, hint)


def _read(section: str, key: str, kind: type, table: Mapping[str, Any]) -> Any:
    value: Any = table[key]
    # bool is an int subclass in Python; a port of `true` is a mistake, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        shown = f"a {type(value).__name__}" if (section, key) in SECRET_KEYS else repr(value)
        raise ConfigError(f"{section}.{key} must be {kind.__name__}, got {shown}")
    return tuple(value) if isinstance(value, list) else value


def _parse_section(section: str, table: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """Walk one section's declarations: env var, else file, else default; then its check."""
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        from_env = env.get(f.metadata["env"]) if f.metadata["env"] else None
        if from_env:
            value: Any = from_env
        elif f.name in table:
            value = _read(section, f.name, _toml_type(hints[f.name]), table)
        else:
            value = f.default
        check: Check | None = f.metadata["check"]
        values[f.name] = check(f"{section}.{f.name}", value) if check else value
    return cls(**values)


def _derive_public_url(server: ServerConfig, table: Mapping[str, Any]) -> ServerConfig:
    if not str(table.get("public_url", "")).rstrip("/"):
        server = replace(server, public_url=f"http://{server.host}:{server.port}")
    url = urlsplit(server.public_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ConfigError(f"server.public_url must be an http(s) URL, got {server.public_url!r}")
    return server


def _check_telegram_webhook(telegram: TelegramConfig) -> None:
    secret_ok = re.fullmatch(r"[A-Za-z0-9_-]{16,256}", telegram.webhook_secret) is not None
    if telegram.enabled and telegram.uses_webhook and not secret_ok:
        # Without the secret anyone who learns the path could post fake updates.
        raise ConfigError(
            "telegram.webhook_secret (or SUO_TELEGRAM_WEBHOOK_SECRET) must be set, "
            "at least 16 characters [A-Za-z0-9_-], in webhook mode"
        )


def _check_wecom_pair(wecom: WeComConfig) -> None:
    if bool(wecom.token) != bool(wecom.encoding_aes_key):
        raise ConfigError("wecom.token and wecom.encoding_aes_key must be set together")


def _check_digest_retries(digest: DigestConfig) -> None:
    if digest.retry_backoff_total >= digest.lease_minutes * 60:
        # Past the lease another process may take the run over while this one still retries.
        raise ConfigError(
            f"digest.lease_minutes ({digest.lease_minutes}) must be longer than the retries' "
            f"waits ({digest.retry_backoff_total} s from retry_attempts and "
            "retry_backoff_seconds)"
        )


def _check_pool(storage: StorageConfig) -> None:
    if storage.pool_min > storage.pool_max:
        raise ConfigError(
            f"storage.pool_min ({storage.pool_min}) must not exceed storage.pool_max "
            f"({storage.pool_max})"
        )


def parse_config(data: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown config section [{unknown[0]}]")
    sections = {name: _parse_section(name, _table(data, name), env) for name in SECTIONS}
    config = Config(**sections)
    # Checks that read more than one key.
    config = replace(config, server=_derive_public_url(config.server, _table(data, "server")))
    _check_telegram_webhook(config.telegram)
    _check_wecom_pair(config.wecom)
    _check_digest_retries(config.digest)
    _check_pool(config.storage)
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

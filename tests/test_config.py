"""Config: the example file runs as is, mistakes name their key, secrets come from env."""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path

import pytest

from bot.config import (
    SECRET_KEYS,
    SECTIONS,
    WECOM_FETCH_HOSTS,
    ConfigError,
    load_config,
    parse_config,
    secret_values,
)
from suo.logs import RedactingFormatter
from tests.conftest import REPO


def test_example_config_loads_with_no_tokens() -> None:
    config = load_config(REPO / "config.example.toml", env={})
    assert config.server.host == "127.0.0.1"
    assert config.server.public_url == "http://127.0.0.1:8080"
    assert config.storage.url == "sqlite:///suo.db"
    assert config.links.code_length == 7


def test_wecom_fetch_hosts_default_to_wecoms_and_are_set_in_the_file() -> None:
    assert load_config(None, env={}).wecom.fetch_hosts == WECOM_FETCH_HOSTS
    example = load_config(REPO / "config.example.toml", env={})
    assert example.wecom.fetch_hosts == WECOM_FETCH_HOSTS
    config = parse_config({"wecom": {"fetch_hosts": ["Img.Example.COM"]}}, env={})
    assert config.wecom.fetch_hosts == ("img.example.com",)  # URL hosts compare lowercased
    with pytest.raises(ConfigError, match=r"wecom\.fetch_hosts"):
        parse_config({"wecom": {"fetch_hosts": "qyapi.weixin.qq.com"}}, env={})


def test_defaults_without_a_file() -> None:
    config = load_config(None, env={})
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)
    assert config.storage.url == "sqlite:///suo.db"


def test_secret_from_env_wins_and_is_not_in_repr() -> None:
    config = parse_config({"server": {"secret": "from-file"}}, env={"SUO_SECRET": "from-env"})
    assert config.server.secret == "from-env"
    assert "from-env" not in repr(config)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"server": {"port": "8080"}}, "server.port"),
        ({"server": {"port": 70000}}, "server.port"),
        ({"server": {"public_url": "ftp://x"}}, "server.public_url"),
        ({"links": {"code_length": 2}}, "links.code_length"),
        ({"links": {"blocked_domains": [1]}}, "links.blocked_domains"),
        ({"storage": {"url": "mysql://x"}}, "storage.url"),
        ({"console": {"lang": "fr"}}, "console.lang"),
        ({"serverr": {}}, "serverr"),
        ({"server": {"trusted_proxies": ["10.0.0.0/8", "nope"]}}, "server.trusted_proxies"),
    ],
)
def test_bad_values_name_their_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config(data, env={})


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_telegram_token_from_env_and_webhook_needs_a_secret() -> None:
    config = parse_config({}, env={"SUO_TELEGRAM_TOKEN": "123:abc"})
    assert config.telegram.enabled and config.telegram.mode == "polling"
    assert "123:abc" not in repr(config)
    with pytest.raises(ConfigError, match=r"telegram\.webhook_secret"):
        parse_config({"telegram": {"token": "1:x", "mode": "webhook"}}, env={})
    with pytest.raises(ConfigError, match=r"telegram\.webhook_secret"):
        parse_config(
            {
                "telegram": {
                    "token": "1:x",
                    "mode": "webhook",
                    "webhook_secret": "has spaces in it!!",
                }
            },
            env={},
        )
    ok = parse_config(
        {"telegram": {"token": "1:x", "mode": "webhook"}},
        env={"SUO_TELEGRAM_WEBHOOK_SECRET": "s3cret-token_0123456789"},
    )
    assert ok.telegram.webhook_secret == "s3cret-token_0123456789"
    with pytest.raises(ConfigError, match=r"telegram\.mode"):
        parse_config({"telegram": {"mode": "push"}}, env={})


@pytest.mark.parametrize(
    ("data", "secret"),
    [
        ({"telegram": {"token": 123456789}}, "123456789"),
        ({"server": {"secret": ["hunter2-hunter2"]}}, "hunter2-hunter2"),
        ({"wecom": {"encoding_aes_key": 4242424242}}, "4242424242"),
        ({"storage": {"url": "mysql://suo:S3cretPass@db.internal/suo"}}, "S3cretPass"),
    ],
)
def test_config_errors_never_echo_a_secret(data: dict[str, object], secret: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(data, env={})
    assert secret not in str(error.value)
    assert str(error.value).split(" ")[0] in {
        "telegram.token",
        "server.secret",
        "wecom.encoding_aes_key",
        "storage.url",
    }


def test_the_log_formatter_redacts_configured_secrets_and_bot_tokens() -> None:
    formatter = RedactingFormatter(["S3cretPass", "abc"])  # too short to redact safely: kept
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        "HTTP Request: POST %s",
        ("https://api.telegram.org/bot123456:AAHk-secretpart_0123456789abcdef/getMe",),
        None,
    )
    line = formatter.format(record)
    assert "secretpart" not in line and "/bot***/getMe" in line
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "db said S3cretPass abc", (), None)
    assert formatter.format(record).endswith("db said *** abc")
    robot = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx&debug=1"
    record = logging.LogRecord("aiohttp.client", logging.ERROR, __file__, 1, "%s", (robot,), None)
    assert formatter.format(record).endswith("/cgi-bin/webhook/send?key=***&debug=1")


def test_a_password_is_redacted_as_written_and_as_sent() -> None:
    url = "postgresql://suo:p%40ss-w0rd!@db.example/suo"
    config = parse_config({"storage": {"url": url}}, env={})
    assert {"p%40ss-w0rd!", "p@ss-w0rd!"} <= set(secret_values(config))


def test_every_secret_key_may_come_from_env_and_is_kept_out_of_repr_and_logs() -> None:
    env: dict[str, str] = {}
    expected: dict[tuple[str, str], str] = {}
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            if f.metadata["secret"]:
                assert f.metadata["env"], f"{section}.{f.name} is secret but has no env var"
                # 43 letters: the shape the strictest secret (WeCom's AES key) takes.
                value = (section + f.name).replace("_", "").ljust(43, "x")[:43]
                env[f.metadata["env"]] = expected[(section, f.name)] = value
    assert set(expected) == SECRET_KEYS
    config = parse_config({}, env)
    redacted = secret_values(config)
    for (section, key), value in expected.items():
        assert getattr(getattr(config, section), key) == value
        assert value in redacted and value not in repr(config)

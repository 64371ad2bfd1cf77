"""The `suo` command: parses arguments, picks a mode's parts and runs them (run, redirector,
bot, chat), or one-shot commands (shorten, decode, stats, migrate, backup, export).

Scripts depend on the flags and JSON shapes here; change them only with a note in README.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from telegram.error import InvalidToken

from adapters.console import PLATFORM as CONSOLE
from adapters.console import ConsoleChat, stdin_lines
from bot.config import Config, ConfigError, load_config, secret_values, without_password
from bot.errors import UserError
from bot.i18n import translate
from bot.qr import decode_qr_codes
from bot.storage import StoreUnavailable
from redirector.metrics import MULTIPROC_ENV
from suo.app import BOT_PARTS, Part, Suo, reuse_port_supported
from suo.backup import backup_sqlite
from suo.export import write_export
from suo.fatal import exit_in_one_line_on_sigbus
from suo.logs import FORMAT, redact_secrets
from suo.workers import run_workers

log = logging.getLogger("suo")

CLI_MEMBER = "cli"
# One-shot commands read and write the store; they run no platform, server or schedule.
NO_PARTS: frozenset[Part] = frozenset()


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config or os.environ.get("SUO_CONFIG") or None)
    redact_secrets(secret_values(config))
    return config


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _console(suo: Suo) -> None:
    config = suo.config
    chat = ConsoleChat(
        suo.core,
        group=config.console.group,
        member=config.console.member,
        qr_dir=Path(config.console.qr_dir),
        write=lambda text: print(text, flush=True),
    )
    chat.greet()
    prompt = (lambda: chat.prompt) if sys.stdin.isatty() else None
    chat_task = asyncio.create_task(chat.run(stdin_lines(prompt)))
    signal_task = asyncio.create_task(_wait_for_signal())
    await asyncio.wait({chat_task, signal_task}, return_when=asyncio.FIRST_COMPLETED)
    for task in (chat_task, signal_task):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def parts_for(mode: str, config: Config) -> frozenset[Part]:
    """`run`: everything; `redirector`: short links with the webhook bots, never polling or
    digests (scale-out nodes); `bot`: the chat adapters and digests; `chat`: the console only."""
    if mode == "run":
        return frozenset(Part)
    if mode == "bot":
        return BOT_PARTS
    if mode == "redirector":
        telegram = {Part.TELEGRAM} if config.telegram.uses_webhook else set()
        return frozenset({Part.REDIRECTOR, Part.WECOM, *telegram})
    return frozenset()


async def cmd_run(args: argparse.Namespace, *, mode: str) -> int:
    """`run`, `redirector`, `bot` or `chat`: the parts `mode` runs, until a signal (or the end
    of the console chat). The console group starts for `chat`, or for `run`/`bot` in a
    terminal with no platform."""
    config = _config(args)
    console = mode == "chat" or (
        mode in ("run", "bot") and not config.has_platform and sys.stdin.isatty()
    )
    # Redirectors share their port: started apart, or as workers of `--workers N`.
    reuse_port = mode == "redirector"
    async with Suo(config, parts_for(mode, config), reuse_port=reuse_port) as suo:
        if console:
            if not args.verbose:
                logging.getLogger().setLevel(logging.WARNING)  # keep the chat readable
            if Part.REDIRECTOR in suo.parts:
                print(f"redirector on {config.server.public_url}", flush=True)
            await _console(suo)
        else:
            if mode in ("run", "bot") and not config.has_platform:
                log.info("no platform token and stdin is not a terminal: no chat started")
            await suo.run_until(_wait_for_signal())
    return 0


def cmd_redirector_workers(args: argparse.Namespace) -> int:
    """`redirector --workers N`: N redirector processes on one port; this one only waits."""
    _config(args)  # a bad config is one message here, not one per worker
    if not reuse_port_supported():
        print("--workers needs SO_REUSEPORT (Linux): start one redirector", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "suo.cli"]
    if args.config:
        command += ["--config", args.config]
    if args.verbose:
        command.append("--verbose")
    with _shared_metrics_dir():
        return asyncio.run(run_workers([*command, "redirector"], args.workers))


@contextlib.contextmanager
def _shared_metrics_dir() -> Iterator[None]:
    """Where the workers add up their /metrics (prometheus-client's multiprocess mode): the
    operator's PROMETHEUS_MULTIPROC_DIR, else a fresh directory for this run, removed after."""
    if os.environ.get(MULTIPROC_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="suo-metrics-") as path:
        os.environ[MULTIPROC_ENV] = path  # the workers inherit it
        try:
            yield
        finally:
            del os.environ[MULTIPROC_ENV]


async def cmd_shorten(args: argparse.Namespace) -> int:
    config = _config(args)
    name = args.group or config.console.group
    async with Suo(config, NO_PARTS) as suo:
        # The command line is the console group's other door: same platform, same groups.
        group = await suo.store.upsert_group(CONSOLE, name, name, config.console.lang)
        sharer = await suo.store.upsert_user(CONSOLE, CLI_MEMBER, CLI_MEMBER)
        try:
            short = await suo.shortener.shorten_in_group(group, sharer, args.url)
        except UserError as e:
            print(translate(group.lang, e.message_key, **e.params), file=sys.stderr)
            return 2
    if args.json:
        print(
            json.dumps(
                {"code": short.link.code, "short_url": short.short_url, "url": short.link.url},
                ensure_ascii=False,
            )
        )
    else:
        print(short.short_url)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    lang = _config(args).console.lang  # the same language `shorten` answers in
    failed = False
    for name in args.files:
        codes: list[dict[str, str]] = []
        error: str | None = None
        try:
            data = Path(name).read_bytes()
            codes = [{"text": c.text, "kind": c.kind} for c in decode_qr_codes(data)]
        except OSError as e:
            error = translate(lang, "file_unreadable", reason=e.strerror or type(e).__name__)
        except UserError as e:
            error = translate(lang, e.message_key, **e.params)
        except Exception:
            # One answer per file whatever happens: the files after it still get theirs.
            log.exception("decode failed file=%s", name)
            error = translate(lang, "internal_error")
        failed = failed or error is not None
        if args.json:
            print(json.dumps({"file": name, "codes": codes, "error": error}, ensure_ascii=False))
        elif error:
            print(f"{name}: {error}")
        elif not codes:
            print(f"{name}: {translate(lang, 'qr_none_found')}")
        else:
            for code in codes:
                print(f"{name}: [{code['kind']}] {code['text']}")
    return 1 if failed else 0


async def cmd_stats(args: argparse.Namespace) -> int:
    async with Suo(_config(args), NO_PARTS) as suo:
        groups = await suo.store.find_groups(args.group)
        rows = [await suo.store.group_stats(g.id) for g in groups]
    if args.group and not rows:
        print(f"no group named {args.group!r}", file=sys.stderr)
        return 1
    for s in rows:
        if args.json:
            print(
                json.dumps(
                    {
                        "group": s.group.title,
                        "platform": s.group.platform,
                        "chat_id": s.group.chat_id,
                        "links": s.links,
                        "human_clicks": s.human_clicks,
                        "preview_clicks": s.preview_clicks,
                        "bot_clicks": s.bot_clicks,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(
                f"{s.group.platform}/{s.group.title}: {s.links} links, {s.human_clicks} human "
                f"clicks ({s.preview_clicks} previews, {s.bot_clicks} bots)"
            )
    return 0


async def cmd_migrate(args: argparse.Namespace) -> int:
    """Opening the store applies the migrations it lacks; say what that changed."""
    config = _config(args)
    async with Suo(config, NO_PARTS) as suo:
        before, after = await suo.store.schema_versions()
    url = config.storage.url
    engine = "sqlite" if url.startswith("sqlite:") else "postgresql"
    print(f"{engine} {without_password(url)}: schema version {before} -> {after}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the SQLite database while suo runs; PostgreSQL has pg_dump."""
    url = _config(args).storage.url
    if not url.startswith("sqlite:///"):
        print(
            f"backup: {without_password(url)} is PostgreSQL: back it up with pg_dump "
            "--format=custom (see docs/operations.md)",
            file=sys.stderr,
        )
        return 2
    source = Path(url.removeprefix("sqlite:///"))
    try:
        summary = backup_sqlite(source, Path(args.path))
    except (OSError, sqlite3.Error) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        print(f"backup failed: {source} -> {args.path}: {reason}", file=sys.stderr)
        return 3
    print(
        f"sqlite {source} -> {args.path}: {summary.links} links, {summary.clicks} clicks, "
        f"schema version {summary.schema_version}"
    )
    return 0


async def cmd_export(args: argparse.Namespace) -> int:
    config = _config(args)
    async with Suo(config, NO_PARTS) as suo:
        groups = await suo.store.find_groups(args.group)
        if len(groups) != 1:
            found = ", ".join(f"{g.platform}/{g.chat_id} {g.title!r}" for g in groups)
            print(
                f"{len(groups)} groups match {args.group!r}"
                + (f" ({found}): give a chat id" if groups else ""),
                file=sys.stderr,
            )
            return 1
        group = groups[0]
        links = await suo.store.group_links(group.id)
        days = await suo.store.clicks_per_link_day(group.id)
    for path in write_export(args.out, group, links, days, config.server.public_url):
        print(path)
    return 0


def _common_options(*, suppress: bool) -> argparse.ArgumentParser:
    """--config and -v, accepted before the command (`suo --config X stats`) and after it
    (`suo stats --config X`). After it they default to SUPPRESS so they never undo a value
    given before it."""
    options = argparse.ArgumentParser(add_help=False)
    default: dict[str, object] = {"default": argparse.SUPPRESS} if suppress else {}
    options.add_argument(
        "--config",
        metavar="PATH",
        help="TOML config file (default: $SUO_CONFIG, else built-in defaults)",
        **default,  # type: ignore[arg-type]
    )
    options.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log debug details",
        **default,  # type: ignore[arg-type]
    )
    return options


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes >= 1, got {text!r}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suo",
        description="快缩短网址 suo.run: short links and QR codes for WeCom and Telegram groups",
        parents=[_common_options(suppress=False)],
        epilog="exit codes: 0 ok, 1 some input failed, 2 bad config or refused URL, "
        "3 database or file error",
    )
    common = _common_options(suppress=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description, parents=[common])

    command(
        "run",
        "redirector + chat adapters (console group in a terminal)",
        "Serve the redirector and run the chat adapters and digests in one process. With no "
        "platform token and a terminal on stdin, a console group chat starts.",
    )
    p = command(
        "redirector",
        "only the redirector (for scale-out nodes)",
        "Serve short links (and the WeCom and Telegram webhooks when configured, which run "
        "their bots here too), without polling or digests. Redirectors share server.port "
        "(SO_REUSEPORT, Linux): start several, or one with --workers N.",
    )
    p.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="start N redirector processes on the port and wait for them (default 1: this "
        "process serves)",
    )
    command(
        "bot",
        "only the chat adapters (no redirector)",
        "Run the chat adapters and digests; in webhook mode serve just the webhook routes.",
    )
    command("chat", "only the console group chat", "A console group chat that reads stdin.")
    p = command("shorten", "shorten one URL", "Print the console group's short link for URL.")
    p.add_argument("url", metavar="URL")
    p.add_argument("--group", help="group name (default: the console group)")
    p.add_argument("--json", action="store_true", help='print {"code", "short_url", "url"}')
    p = command(
        "decode",
        "decode the QR codes in image files",
        "Decode every QR code in each image file; exit 1 if any file could not be read.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON line per file")
    p = command("stats", "links and clicks per group", "All-time links and clicks per group.")
    p.add_argument("--group", help="only this group (its name)")
    p.add_argument("--json", action="store_true", help="one JSON line per group")
    _operator_commands(command)
    return parser


def _operator_commands(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """`migrate`, `backup` and `export`: an operator's commands on the database alone."""
    command(
        "migrate",
        "apply pending database migrations",
        "Open the database, apply the schema migrations it lacks, and print the engine and "
        "the schema version before -> after.",
    )
    p = command(
        "backup",
        "a consistent copy of the SQLite database, while suo runs",
        "Copy the SQLite database to PATH (replaced if it exists) as of one moment, with "
        "SQLite's online backup API, while suo keeps running; check the copy and print what "
        "it holds. PostgreSQL: use pg_dump.",
    )
    p.add_argument("path", metavar="PATH")
    p = command(
        "export",
        "a group's links and daily clicks as CSV",
        "Write the group's links, and its clicks per link and UTC day (human, previews, "
        "bots, unique readers), as two CSV files.",
    )
    p.add_argument("--group", required=True, help="the group's chat id or its name")
    p.add_argument("--csv", action="store_true", required=True, help="CSV (the one format)")
    p.add_argument(
        "--out",
        default=".",
        metavar="DIR",
        help="directory for group-ID-links.csv and group-ID-clicks.csv (default: .); "
        "'-': both to stdout, links first, then an empty row, then the clicks",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    quiet = ("chat", "shorten", "decode", "stats", "migrate", "backup", "export")
    if args.command in quiet and not args.verbose:
        level = logging.WARNING  # keep the chat and script output readable
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
    redact_secrets(())  # Bot API tokens in URLs, until the config names the secrets
    # Referenced until the process ends: libc calls it on SIGBUS (see suo/fatal.py).
    sigbus_handler = exit_in_one_line_on_sigbus()  # noqa: F841
    try:
        if args.command == "redirector" and args.workers > 1:
            return cmd_redirector_workers(args)
        if args.command in ("run", "redirector", "bot", "chat"):
            return asyncio.run(cmd_run(args, mode=args.command))
        if args.command == "shorten":
            return asyncio.run(cmd_shorten(args))
        if args.command == "decode":
            return cmd_decode(args)
        if args.command == "migrate":
            return asyncio.run(cmd_migrate(args))
        if args.command == "backup":
            return cmd_backup(args)
        if args.command == "export":
            return asyncio.run(cmd_export(args))
        return asyncio.run(cmd_stats(args))
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except InvalidToken:
        print("telegram: the bot token was refused (check SUO_TELEGRAM_TOKEN)", file=sys.stderr)
        return 2
    except StoreUnavailable as e:
        print(f"database unavailable: {e}", file=sys.stderr)
        return 3
    except OSError as e:
        print(f"error: {e.strerror or e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

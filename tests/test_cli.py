"""The `suo` command as scripts and new users run it: real subprocesses, real files, loopback.

Covers the README walk-through: shorten, open the short link, see the click in `suo stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import aiohttp
import pytest
import zxingcpp
from PIL import Image

from bot.qr import render_qr_png
from tests.conftest import BOTH_ENGINES, free_port, process_config
from tests.test_qr import one_bit_png

# README's curl line sends a browser's User-Agent: curl's own is a bot's, not a reader's.
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


# The tests whose processes keep links and clicks run on both engines (`on_each_engine`);
# the rest, about input, output and SQLite's own files, on SQLite.
ENGINES = BOTH_ENGINES


def _console(tmp_path: Path) -> str:
    return f"""
[console]
group = "demo"
qr_dir = "{tmp_path / "qr"}"
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return process_config(tmp_path, free_port(), _console(tmp_path))


@pytest.fixture
def on_each_engine(tmp_path: Path, storage_url: str) -> Path:
    """`cfg`, with the database of the engine under test."""
    return process_config(tmp_path, free_port(), _console(tmp_path), storage_url)


def suo(cfg: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "suo.cli", "--config", str(cfg), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_shorten_json_contract_and_dedupe(on_each_engine: Path) -> None:
    cfg = on_each_engine
    first = suo(cfg, "shorten", "https://example.com/活动", "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) == {"code", "short_url", "url"}
    assert data["url"] == "https://example.com/活动"
    assert data["short_url"].endswith("/" + data["code"])
    again = json.loads(suo(cfg, "shorten", "https://example.com/活动", "--json").stdout)
    assert again["code"] == data["code"]
    other = json.loads(
        suo(cfg, "shorten", "https://example.com/活动", "--group", "b", "--json").stdout
    )
    assert other["code"] != data["code"]


def test_shorten_refuses_javascript_url(cfg: Path) -> None:
    result = suo(cfg, "shorten", "javascript:alert(1)")
    assert result.returncode == 2
    assert "http" in result.stderr and "Traceback" not in result.stderr


def test_decode_json_lines(cfg: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(render_qr_png("WIFI:T:WPA;S:咖啡店;P:secret123;;"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(render_qr_png("x")[:60])
    notes = tmp_path / "notes.txt"
    notes.write_text("just text", encoding="utf-8")
    result = suo(
        cfg, "decode", str(good), str(broken), str(notes), str(tmp_path / "missing.png"), "--json"
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [
        str(good),
        str(broken),
        str(notes),
        str(tmp_path / "missing.png"),
    ]
    assert lines[0] == {
        "file": str(good),
        "codes": [{"text": "WIFI:T:WPA;S:咖啡店;P:secret123;;", "kind": "wifi"}],
        "error": None,
    }
    assert all(line["error"] and line["codes"] == [] for line in lines[1:])
    assert result.returncode == 1


def test_config_and_verbose_work_before_or_after_the_command(cfg: Path) -> None:
    suo(cfg, "shorten", "https://example.com/order")
    after = subprocess.run(
        [sys.executable, "-m", "suo.cli", "stats", "--config", str(cfg), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["links"] == 1
    helped = subprocess.run(
        [sys.executable, "-m", "suo.cli", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert helped.returncode == 0
    assert "--config PATH" in helped.stdout and "--verbose" in helped.stdout


def test_a_database_that_cannot_be_opened_is_one_line_and_exit_3(
    cfg: Path, tmp_path: Path
) -> None:
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("these are my notes, not a database\n" * 100, encoding="utf-8")
    for command in (["stats"], ["shorten", "https://example.com/x"]):
        result = subprocess.run(
            [sys.executable, "-m", "suo.cli", "--config", str(cfg), *command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "SUO_STORAGE_URL": f"sqlite:///{not_a_db}"},
        )
        assert result.returncode == 3, result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert "Traceback" not in result.stderr and str(not_a_db) in result.stderr


def test_decode_answers_every_file_after_a_hostile_one(cfg: Path, tmp_path: Path) -> None:
    wide = tmp_path / "wide.png"
    wide.write_bytes(one_bit_png(70_000, 1))  # 87 bytes; no decoder takes a side over 65,535
    good = tmp_path / "good.png"
    good.write_bytes(render_qr_png("https://example.com/after"))
    result = suo(cfg, "decode", "--json", str(wide), str(good))
    assert "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(wide), str(good)]
    assert "70000×1" in lines[0]["error"]
    assert lines[1]["codes"] == [{"text": "https://example.com/after", "kind": "url"}]
    assert result.returncode == 1


def test_decode_answers_in_the_configured_language(cfg: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    blank.write_bytes(render_qr_png("x")[:60])
    zh = suo(cfg, "decode", str(blank), str(tmp_path / "missing.png"))
    assert "无法读取" in zh.stdout and "Traceback" not in zh.stderr
    english = tmp_path / "en.toml"
    english.write_text(
        cfg.read_text(encoding="utf-8").replace("[console]\n", '[console]\nlang = "en"\n'),
        encoding="utf-8",
    )
    en = suo(english, "decode", str(blank), str(tmp_path / "missing.png"))
    assert "cannot read the file" in en.stdout and "无法" not in en.stdout


def test_console_chat_answers_links_and_bad_input_without_dying(
    on_each_engine: Path, tmp_path: Path
) -> None:
    cfg = on_each_engine
    huge = tmp_path / "huge.png"
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000), 1).save(buf, "PNG")
    huge.write_bytes(buf.getvalue())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0garbage")
    text_file = tmp_path / "readme.txt"
    text_file.write_text("not an image", encoding="utf-8")
    qr_photo = tmp_path / "poster.png"
    qr_photo.write_bytes(render_qr_png("https://example.com/poster"))
    lines = [
        "大家看看 https://example.com/week1 ，周末活动",
        f"/photo {broken}",
        f"/photo {text_file}",
        f"/photo {huge}",
        f"/photo {tmp_path / 'missing.png'}",
        "/short javascript:alert(1)",
        "x" * 12_000,
        "/settings 防红 开",  # the operator at the terminal is the group's admin...
        "/as bob",
        "/settings expiry 7d",  # ...a member switched to is not
        f"/photo {qr_photo}",
        "https://example.com/week1",
    ]
    result = suo(cfg, "chat", stdin="\n".join(lines) + "\n")
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in out + result.stderr
    assert out.count("无法读取这张图片") == 2
    assert "分辨率太高" in out
    assert "cannot read file" in out
    assert "只能缩短 http:// 或 https://" in out
    assert "https://example.com/poster" in out
    assert "本群已有" in out  # bob's repost of alice's link reuses the code
    assert "防红引导（提示用浏览器打开）：微信" in out
    assert out.count("只有群管理员") == 1
    saved = sorted((tmp_path / "qr").glob("*.png"))
    assert len(saved) == 2  # one QR for week1 (reused), one for the poster's URL
    assert all(str(p) in out for p in saved)


def test_console_qr_images_of_different_texts_are_different_files(
    cfg: Path, tmp_path: Path
) -> None:
    result = suo(
        cfg,
        "chat",
        stdin="/qr 周六 10:00 门口集合\n/qr Wi-Fi 密码 8888\n/qr 周六 10:00 门口集合\n",
    )
    assert result.returncode == 0, result.stderr
    shown = re.findall(r"QR: (\S+\.png)", result.stdout)
    assert len(shown) == 3
    assert shown[0] == shown[2] != shown[1]  # the same text keeps its file
    texts = [zxingcpp.read_barcodes(Image.open(path))[0].text for path in shown]
    assert texts == ["周六 10:00 门口集合", "Wi-Fi 密码 8888", "周六 10:00 门口集合"]


def test_readme_walkthrough_shorten_click_stats(on_each_engine: Path) -> None:
    """suo redirector + suo shorten + one click with a browser's UA -> suo stats shows 1 human
    click."""
    cfg = on_each_engine
    short = json.loads(suo(cfg, "shorten", "https://example.com/readme", "--json").stdout)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "suo.cli", "--config", str(cfg), "redirector"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        status, location = asyncio.run(click_once(short["short_url"]))
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert (status, location) == (302, "https://example.com/readme")
    stats = [
        json.loads(line)
        for line in suo(cfg, "stats", "--group", "demo", "--json").stdout.splitlines()
    ]
    assert len(stats) == 1
    assert stats[0]["links"] == 1
    assert stats[0]["human_clicks"] == 1


async def click_once(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):  # wait for the server to listen: bounded, ~10 s at most
            try:
                async with session.get(url.rsplit("/", 1)[0] + "/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        async with session.get(
            url, headers={"User-Agent": BROWSER_UA}, allow_redirects=False
        ) as resp:
            return resp.status, resp.headers["Location"]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://user:pass@example.com/x", "example.com"),
        ("https://google.com@evil.example/", "evil.example"),
        ("https://user@example.com", "example.com"),
    ],
)
def test_shorten_refuses_urls_with_credentials(cfg: Path, url: str, host: str) -> None:
    result = suo(cfg, "shorten", url, "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "用户名或密码" in result.stderr and host in result.stderr
    assert "pass@" not in result.stderr and "Traceback" not in result.stderr


def test_a_shm_cut_short_under_a_running_redirector_stops_it_in_one_line(cfg: Path) -> None:
    """SQLite maps the database's -shm; truncated under a live process (a restore copying files
    over it, a cleanup script), the next access faults with SIGBUS. The process says so in
    one line and exits 3 instead of dying by the signal. Needs no mount: any truncation does."""
    short = json.loads(suo(cfg, "shorten", "https://example.com/shm", "--json").stdout)
    shm = Path(str(tomllib.loads(cfg.read_text())["storage"]["url"]).removeprefix("sqlite:///"))
    shm = shm.with_name(shm.name + "-shm")
    server = subprocess.Popen(
        [sys.executable, "-m", "suo.cli", "--config", str(cfg), "redirector"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert asyncio.run(click_once(short["short_url"]))[0] == 302
        os.truncate(shm, 0)
        with contextlib.suppress(aiohttp.ClientError):  # the click batch or this read faults
            asyncio.run(click_once(short["short_url"]))
        _, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 3, err
    assert err.decode().splitlines()[-1].startswith("suo: stopped by SIGBUS: a memory-mapped file")
    assert b"Traceback" not in err


def test_a_shm_that_cannot_be_written_is_refused_in_one_line(cfg: Path) -> None:
    """A -shm SQLite cannot write (here a directory in its place; a read-only file or a full
    disk answer the same way): the command refuses at open, one line and exit 3."""
    db = Path(str(tomllib.loads(cfg.read_text())["storage"]["url"]).removeprefix("sqlite:///"))
    assert suo(cfg, "shorten", "https://example.com/before").returncode == 0
    db.with_name(db.name + "-shm").mkdir()
    result = suo(cfg, "shorten", "https://example.com/after")
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"database unavailable: cannot open the SQLite database {db}: "
        "attempt to write a readonly database"
    ]


HOSTILE_SHAPES = [(70_000, 1), (1, 40_000_000), (39_000, 1_000), (4_000, 100)]
# Four decodes of one file at once, as four members' uploads would run them.
FOUR_AT_ONCE = """
import asyncio, pathlib, sys
from bot.errors import UserError
from bot.qr import decode_qr_codes

async def main() -> None:
    strip = pathlib.Path(sys.argv[1]).read_bytes()
    async def one() -> str:
        try:
            return str(await asyncio.to_thread(decode_qr_codes, strip))
        except UserError as e:
            return e.code
    print(await asyncio.gather(*(one() for _ in range(4))))

asyncio.run(main())
"""


def peak_rss_kib(*command: str) -> tuple[int, str]:
    """Run `command` in a child of a fresh interpreter; the child's peak RSS (KiB) and its
    stdout. A fresh parent: RUSAGE_CHILDREN holds the largest child it ever waited for."""
    measure = (
        "import resource, subprocess, sys\n"
        "out = subprocess.run(sys.argv[1:], capture_output=True, text=True).stdout\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.stdout.write(out)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", measure, *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    peak, _, out = result.stdout.partition("\n")
    return int(peak), out


def test_hostile_images_are_answered_with_bounded_memory(cfg: Path, tmp_path: Path) -> None:
    """Before: 1.1 GB for one 78 KB 1 x 40,000,000 PNG and 3.4 GB for four at once, and an
    88-byte PNG 70,000 px wide ended `suo decode`. Now each is answered from its header: the
    peak RSS stays within 50 MiB of decoding one ordinary code, alone or four at once."""
    good = tmp_path / "good.png"
    good.write_bytes(render_qr_png("https://example.com/ok"))
    hostile = []
    for width, height in HOSTILE_SHAPES:
        path = tmp_path / f"{width}x{height}.png"
        path.write_bytes(one_bit_png(width, height))
        hostile.append(str(path))
    decode = [sys.executable, "-m", "suo.cli", "--config", str(cfg), "decode", "--json"]
    baseline, _ = peak_rss_kib(*decode, str(good))
    peak, out = peak_rss_kib(*decode, *hostile, str(good))
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == [*hostile, str(good)]
    assert all("尺寸异常" in line["error"] for line in lines[:-1])
    assert lines[-1]["codes"] == [{"text": "https://example.com/ok", "kind": "url"}]
    strip = hostile[HOSTILE_SHAPES.index((1, 40_000_000))]
    at_once, four = peak_rss_kib(sys.executable, "-c", FOUR_AT_ONCE, strip)
    good_at_once, _ = peak_rss_kib(sys.executable, "-c", FOUR_AT_ONCE, str(good))
    assert four.strip() == str(["image_bad_shape"] * 4)
    assert peak - baseline < 50 * 1024, (baseline, peak)
    assert at_once - good_at_once < 50 * 1024, (good_at_once, at_once)

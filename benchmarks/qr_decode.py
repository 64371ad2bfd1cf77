"""Benchmark the QR decoding path against the shared folder of real QR photos.

Usage: python benchmarks/qr_decode.py [folder]   (default: ../shared/qr-photos next to the repo)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import qr
from bot.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}
DEFAULT_FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "qr-photos"


@dataclass
class Tally:
    """Outcomes and timings for one folder (or the total)."""

    images: int = 0
    decoded: int = 0
    wrong: int = 0
    not_found: int = 0
    millis: list[float] = field(default_factory=list)

    def add(self, outcome: str, elapsed_ms: float) -> None:
        self.images += 1
        self.millis.append(elapsed_ms)
        if outcome == "decoded":
            self.decoded += 1
        elif outcome == "wrong":
            self.wrong += 1
        else:
            self.not_found += 1

    def row(self, name: str) -> str:
        rate = 100 * self.decoded / self.images if self.images else 0.0
        return (
            f"{name:<28} {self.images:>6} {self.decoded:>7} {self.wrong:>5} {self.not_found:>9}"
            f" {rate:>6.1f}% {_median(self.millis):>8.1f} {_p95(self.millis):>8.1f}"
        )


def normalise(text: str) -> str:
    """The comparison the photo folder's README prescribes: LF line ends, no trailing space."""
    return text.replace("\r\n", "\n").rstrip()


def photos(folder: Path) -> Iterator[tuple[Path, str]]:
    """Every image with an expected-text file next to it, folder by folder."""
    for image in sorted(folder.rglob("*")):
        expected = image.with_suffix(".txt")
        if image.suffix.lower() in IMAGE_SUFFIXES and expected.is_file():
            yield image, normalise(expected.read_text(encoding="utf-8"))


def judge(texts: list[str], expected: str) -> str:
    if any(normalise(text) == expected for text in texts):
        return "decoded"
    return "wrong" if texts else "not found"


def decode(data: bytes, *, use_fallback: bool) -> list[str]:
    try:
        image = qr.load_greyscale(data, max_bytes=20 * 1024 * 1024, max_pixels=40_000_000)
    except UserError:
        return []
    return [code.text for code in qr.decode_greyscale(image, use_fallback=use_fallback)]


def run(folder: Path, *, use_fallback: bool, verbose: bool) -> Tally:
    tallies: dict[str, Tally] = {}
    total = Tally()
    for image, expected in photos(folder):
        data = image.read_bytes()
        started = time.perf_counter()
        texts = decode(data, use_fallback=use_fallback)
        elapsed_ms = (time.perf_counter() - started) * 1000
        outcome = judge(texts, expected)
        group = image.parent.relative_to(folder).as_posix() if image.parent != folder else "."
        tallies.setdefault(group, Tally()).add(outcome, elapsed_ms)
        total.add(outcome, elapsed_ms)
        if verbose and outcome != "decoded":
            print(f"  {outcome:<9} {image.relative_to(folder)}  {[t[:40] for t in texts]}")
    print(
        f"{'folder':<28} {'images':>6} {'decoded':>7} {'wrong':>5} {'not found':>9}"
        f" {'rate':>7} {'median ms':>8} {'p95 ms':>8}"
    )
    for group, tally in sorted(tallies.items()):
        print(tally.row(group))
    print(total.row("total"))
    return total


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark QR decoding on real QR photos.")
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=Path(os.environ.get("SUO_QR_PHOTOS", DEFAULT_FOLDER)),
        help="folder of <name>.<image> + <name>.txt pairs (subfolders are reported apart)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list images not decoded")
    args = parser.parse_args()
    folder: Path = args.folder
    if not folder.is_dir():
        print(f"no photo folder at {folder}; pass one as the first argument")
        return 0

    print(f"zxing-cpp only ({folder})")
    run(folder, use_fallback=False, verbose=args.verbose)
    if qr.fallback_available():
        print("\nzxing-cpp, then pyzbar when zxing-cpp finds nothing")
        run(folder, use_fallback=True, verbose=args.verbose)
    else:
        print("\npyzbar fallback unavailable here (pyzbar or libzbar missing): not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Codes located in an image: the quadrilateral each one sits in and what was read there,
shared by the zxing-cpp reader, the dewarper and the zbar fallback."""

from __future__ import annotations

from dataclasses import dataclass

Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]  # top-left, top-right, bottom-right, bottom-left


@dataclass(frozen=True, slots=True)
class Found:
    """A code read in full: its text and where it sits."""

    text: str
    quad: Quad


def merge(found: list[Found], more: list[Found]) -> list[Found]:
    """`found` followed by the codes of `more` whose text it does not hold yet."""
    texts = {f.text for f in found}
    merged = list(found)
    for f in more:
        if f.text not in texts:
            texts.add(f.text)
            merged.append(f)
    return merged


@dataclass(frozen=True, slots=True)
class Candidate:
    """A QR code zxing-cpp located but could not read (usually a checksum failure)."""

    quad: Quad
    modules: int  # symbol width in modules (21 for version 1)


def centre(quad: Quad) -> Point:
    return (sum(p[0] for p in quad) / 4, sum(p[1] for p in quad) / 4)


def inside(point: Point, quad: Quad) -> bool:
    """Whether `point` lies inside the convex quadrilateral `quad` (either winding)."""
    signs = set()
    for (ax, ay), (bx, by) in zip(quad, (*quad[1:], quad[0]), strict=True):
        cross = (bx - ax) * (point[1] - ay) - (by - ay) * (point[0] - ax)
        if cross:
            signs.add(cross > 0)
    return len(signs) <= 1

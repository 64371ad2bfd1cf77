"""Flattening a QR code printed on curved or creased material (a T-shirt, a bag) onto a square
that a flat-plane reader can read: pure geometry on a greyscale image, no decoding.

zxing-cpp models a code as a flat plane seen in perspective. A code printed on fabric follows
it, so its grid drifts away from any perspective fit and the read fails the checksum even
though every module is visible. Such codes usually sit on a light patch (the print's quiet
zone) against darker material; that patch's outline bends exactly as the code does. We trace
the outline along rays from the code's centre, treat its four sides as the boundary curves of
a Coons patch, and resample the patch onto a flat square.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image

from bot.qr.located import Candidate, Point, Quad, centre

_DEWARP_RAYS = 180
_DEWARP_GRIDS = (8, 16)
_EDGE_RUN_MODULES = 2.5  # dark run (in modules) that marks the end of the light patch


def flattened(grey: Image.Image, candidate: Candidate) -> Iterator[Image.Image]:
    """The light patch around `candidate` flattened onto a square, coarse mesh first then
    finer (each costs more); nothing when no patch can be traced around it."""
    outline = _trace_light_patch(grey, candidate)
    if outline is None:
        return
    for grid in _DEWARP_GRIDS:
        yield _flatten_patch(grey, outline, grid)


@dataclass(frozen=True, slots=True)
class _Outline:
    """The light patch's four sides, each from one corner to the next, clockwise."""

    top: list[Point]
    right: list[Point]
    bottom: list[Point]
    left: list[Point]
    size: int


def _trace_light_patch(grey: Image.Image, candidate: Candidate) -> _Outline | None:
    quad = candidate.quad
    side = sum(math.dist(quad[i], quad[(i + 1) % 4]) for i in range(4)) / 4
    boundary = _patch_boundary(grey, quad, side, module=side / candidate.modules)
    if boundary is None:
        return None
    return _outline_of(boundary, quad, side)


def _patch_boundary(
    grey: Image.Image, quad: Quad, side: float, *, module: float
) -> list[Point] | None:
    """Where the light patch ends along each of `_DEWARP_RAYS` rays from the code's centre."""
    cx, cy = centre(quad)
    is_dark = _darkness(grey)
    boundary: list[Point] = []
    for i in range(_DEWARP_RAYS):
        angle = 2 * math.pi * i / _DEWARP_RAYS
        dx, dy = math.cos(angle), math.sin(angle)
        edge = _ray_exit(quad, (cx, cy), (dx, dy))
        if edge is None:
            return None
        stop = _patch_end(
            is_dark,
            (cx, cy),
            (dx, dy),
            start=edge - module,
            limit=edge + side / 2,
            dark_run=_EDGE_RUN_MODULES * module,
        )
        boundary.append((cx + dx * stop, cy + dy * stop))
    return boundary


def _darkness(grey: Image.Image) -> Callable[[float, float], bool]:
    """A test for "this point is dark" (Otsu's threshold); outside the image counts as dark."""
    threshold = _otsu_threshold(grey)
    pixels = grey.tobytes()
    width, height = grey.size

    def is_dark(x: float, y: float) -> bool:
        xi, yi = round(x), round(y)
        return not (0 <= xi < width and 0 <= yi < height) or pixels[yi * width + xi] <= threshold

    return is_dark


def _patch_end(
    is_dark: Callable[[float, float], bool],
    origin: Point,
    direction: Point,
    *,
    start: float,
    limit: float,
    dark_run: float,
) -> float:
    """Distance along the ray at which the light patch ends."""
    # Walk outward from just inside the code's edge; the patch ends where a dark run longer
    # than any stretch of modules begins.
    (cx, cy), (dx, dy) = origin, direction
    r = start
    run_start: float | None = None
    while r < limit:
        if is_dark(cx + dx * r, cy + dy * r):
            if run_start is None:
                run_start = r
            elif r - run_start >= dark_run:
                break
        else:
            run_start = None
        r += 0.5
    return run_start if run_start is not None else r


def _outline_of(boundary: list[Point], quad: Quad, side: float) -> _Outline | None:
    """Cut the traced boundary into four sides at the points nearest the code's corners."""
    cx, cy = centre(quad)

    # The patch's corners: the outline points furthest out towards each of the code's corners.
    def furthest_towards(corner: Point) -> int:
        ux, uy = corner[0] - cx, corner[1] - cy
        return max(
            range(_DEWARP_RAYS),
            key=lambda i: (boundary[i][0] - cx) * ux + (boundary[i][1] - cy) * uy,
        )

    corners = [furthest_towards(corner) for corner in quad]

    def side_between(start: int, end: int) -> list[Point]:
        points = [boundary[start]]
        i = start
        while i != end:
            i = (i + 1) % _DEWARP_RAYS
            points.append(boundary[i])
        return points

    # Ray angles grow clockwise on screen, the same way round as the code's corners.
    tl, tr, br, bl = corners
    sides = [
        side_between(tl, tr),
        side_between(tr, br),
        side_between(br, bl),
        side_between(bl, tl),
    ]
    if any(len(s) < 2 for s in sides):
        return None
    top, right, bottom, left = sides
    return _Outline(top, right, bottom[::-1], left[::-1], size=max(200, round(side * 1.4)))


def _flatten_patch(grey: Image.Image, outline: _Outline, grid: int) -> Image.Image:
    """Map the outlined patch onto a square (bilinear Coons patch) on a white margin."""
    top = _resample(outline.top, grid + 1)
    bottom = _resample(outline.bottom, grid + 1)
    left = _resample(outline.left, grid + 1)
    right = _resample(outline.right, grid + 1)
    corners = (top[0], top[-1], bottom[-1], bottom[0])

    def surface(iu: int, iv: int) -> Point:
        return _coons_point(
            iu / grid, iv / grid, (top[iu], bottom[iu], left[iv], right[iv]), corners
        )

    size = outline.size
    cell = size / grid
    mesh = []
    for iu in range(grid):
        for iv in range(grid):
            box = (
                round(iu * cell),
                round(iv * cell),
                round((iu + 1) * cell),
                round((iv + 1) * cell),
            )
            nw, sw, se, ne = (
                surface(iu, iv),
                surface(iu, iv + 1),
                surface(iu + 1, iv + 1),
                surface(iu + 1, iv),
            )
            mesh.append((box, (*nw, *sw, *se, *ne)))
    flat = grey.transform(
        (size, size), Image.Transform.MESH, mesh, Image.Resampling.BILINEAR, fillcolor=255
    )
    margin = size // 12
    framed = Image.new("L", (size + 2 * margin, size + 2 * margin), 255)
    framed.paste(flat, (margin, margin))
    return framed


def _coons_point(
    u: float, v: float, sides: tuple[Point, Point, Point, Point], corners: Quad
) -> Point:
    """The bilinear Coons patch at (u, v): both pairs of opposite sides blended, less the
    corners' bilinear blend (counted twice otherwise). `sides` are top, bottom, left, right."""
    top, bottom, left, right = sides
    tl, tr, br, bl = corners

    def blend(k: int) -> float:
        ruled = (1 - v) * top[k] + v * bottom[k] + (1 - u) * left[k] + u * right[k]
        bilinear = (
            (1 - u) * (1 - v) * tl[k] + u * (1 - v) * tr[k] + u * v * br[k] + (1 - u) * v * bl[k]
        )
        return ruled - bilinear

    return (blend(0), blend(1))


def _resample(points: list[Point], count: int) -> list[Point]:
    """`count` points evenly spaced by arc length along a polyline."""
    lengths = [0.0]
    for a, b in itertools.pairwise(points):
        lengths.append(lengths[-1] + math.dist(a, b))
    total = lengths[-1]
    out: list[Point] = []
    j = 0
    for i in range(count):
        target = total * i / (count - 1)
        while j < len(points) - 2 and lengths[j + 1] < target:
            j += 1
        span = lengths[j + 1] - lengths[j]
        t = (target - lengths[j]) / span if span else 0.0
        (ax, ay), (bx, by) = points[j], points[j + 1]
        out.append((ax + (bx - ax) * t, ay + (by - ay) * t))
    return out


def _ray_exit(quad: Quad, origin: Point, direction: Point) -> float | None:
    """Distance along the ray from `origin` (inside `quad`) to where it leaves the quad."""
    nearest: float | None = None
    ox, oy = origin
    dx, dy = direction
    for (ax, ay), (bx, by) in zip(quad, (*quad[1:], quad[0]), strict=True):
        ex, ey = bx - ax, by - ay
        denominator = dx * ey - dy * ex
        if abs(denominator) < 1e-9:
            continue
        t = ((ax - ox) * ey - (ay - oy) * ex) / denominator
        s = ((ax - ox) * dy - (ay - oy) * dx) / denominator
        if t > 0 and -1e-6 <= s <= 1 + 1e-6 and (nearest is None or t < nearest):
            nearest = t
    return nearest


def _otsu_threshold(grey: Image.Image) -> int:
    """The grey level that best splits the histogram into dark and light (Otsu's method)."""
    histogram = grey.histogram()
    total = sum(histogram)
    weighted_total = sum(level * count for level, count in enumerate(histogram))
    below = weighted_below = 0
    best_level, best_spread = 0, -1.0
    for level, count in enumerate(histogram):
        below += count
        if below == 0:
            continue
        above = total - below
        if above == 0:
            break
        weighted_below += level * count
        spread = (
            below
            * above
            * (weighted_below / below - (weighted_total - weighted_below) / above) ** 2
        )
        if spread > best_spread:
            best_level, best_spread = level, spread
    return best_level

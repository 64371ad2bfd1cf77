"""Bar charts as PNG (Pillow), and text drawn in any script, Chinese included: the digest's
chart and the name on a 活码 poster.

Pillow has no font fallback, so each character is drawn with the first font that has a glyph
for it; a character that no font has is left out rather than drawn as a box ("tofu").
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

# (path, face index in a collection): the first one present is used for Chinese.
CJK_FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # face 2: Simplified Chinese
    ("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)
# Some CJK fonts (Droid Sans Fallback among them) have no Latin letters or digits at all.
LATIN_FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0),
)
# Shipped with the package (see bot/fonts/README.md): Chinese labels on any machine.
BUNDLED_CJK_FONT = Path(__file__).parent / "fonts" / "DroidSansFallback-GB2312.ttf"
CJK_PROBE = "周一读书会"
# Private use, plane 16: no font draws it, so what a font draws for it is its .notdef box.
_NO_GLYPH = "\U0010fffd"
_PROBE_SIZE = 32
_STAND_INS = {"–": "-", "—": "-", "…": "...", "·": "-", "’": "'", "“": '"', "”": '"'}

WIDTH, HEIGHT = 800, 480
BACKGROUND = (255, 255, 255)
BAR_COLOR = (59, 130, 246)
AXIS_COLOR = (209, 213, 219)
TEXT_COLOR = (31, 41, 55)
MUTED_COLOR = (107, 114, 128)
PLOT_LEFT, PLOT_RIGHT = 40, 760
BASELINE_Y = 380  # the bars stand on it
MAX_BAR_HEIGHT = 220

FontFace = tuple[str | None, int]  # (path, index); None: Pillow's built-in font


class ChartFonts:
    """An ordered list of fonts; each character is drawn with the first that has it.

    Pillow's built-in font always comes last, so Latin text renders on any machine.
    """

    def __init__(self, faces: Sequence[FontFace]) -> None:
        self._faces: tuple[FontFace, ...] = (*faces, (None, 0))
        self._fonts: dict[tuple[int, int], ImageFont.FreeTypeFont | None] = {}
        self._has: dict[tuple[int, str], bool] = {}
        self._cjk: bool | None = None
        # FreeType faces must not be used from two threads at once (charts render in threads).
        self.lock = threading.RLock()

    @classmethod
    def find(cls, configured: str = "") -> ChartFonts:
        """`configured` (digest.font_path) first, then the first CJK and Latin fonts present,
        then the bundled CJK subset for the characters none of them has."""
        faces: list[FontFace] = [(configured, 0)] if configured else []
        for candidates in (CJK_FONT_CANDIDATES, LATIN_FONT_CANDIDATES):
            found = next(((p, i) for p, i in candidates if Path(p).is_file()), None)
            if found is not None:
                faces.append(found)
        faces.append((str(BUNDLED_CJK_FONT), 0))
        return cls(faces)

    @property
    def faces(self) -> tuple[FontFace, ...]:
        return self._faces

    @property
    def has_cjk(self) -> bool:
        """True when Chinese labels can be drawn; the first time it is False, says so."""
        if self._cjk is None:
            self._cjk = self.covers(CJK_PROBE)
            if not self._cjk:
                log.warning(
                    "no font with Chinese glyphs found (set digest.font_path or install "
                    "fonts-noto-cjk or fonts-droid-fallback): charts use English labels"
                )
        return self._cjk

    def font(self, face: int, size: int) -> ImageFont.FreeTypeFont | None:
        key = (face, size)
        with self.lock:
            if key not in self._fonts:
                self._fonts[key] = self._load(face, size)
            return self._fonts[key]

    def _load(self, face: int, size: int) -> ImageFont.FreeTypeFont | None:
        path, index = self._faces[face]
        try:
            loaded = (
                ImageFont.load_default(size)
                if path is None
                else ImageFont.truetype(path, size, index=index)
            )
        except OSError:
            log.warning("chart font unreadable, skipped: %s", path)
            return None
        return loaded if isinstance(loaded, ImageFont.FreeTypeFont) else None

    def has_glyph(self, face: int, char: str) -> bool:
        """True when font `face` draws `char` as itself, not as its .notdef box."""
        key = (face, char)
        with self.lock:
            if key not in self._has:
                font = self.font(face, _PROBE_SIZE)
                self._has[key] = font is not None and (
                    char.isspace() or _bitmap(font, char) != _bitmap(font, _NO_GLYPH)
                )
            return self._has[key]

    def face_for(self, char: str) -> int | None:
        return next((i for i in range(len(self._faces)) if self.has_glyph(i, char)), None)

    def missing(self, text: str) -> str:
        """The characters of `text` that no font has (they would be boxes)."""
        return "".join(dict.fromkeys(c for c in text if self.face_for(c) is None))

    def covers(self, text: str) -> bool:
        return not self.missing(text)

    def drawable(self, text: str) -> str:
        """`text` as the fonts can draw it: typographic marks a font lacks become their ASCII
        stand-ins, other characters no font has (emoji, variation selectors...) are left out."""
        out: list[str] = []
        for char in text:
            if self.face_for(char) is not None:
                out.append(char)
            elif self.covers(stand_in := _STAND_INS.get(char, "")):
                out.append(stand_in)
        return "".join(out)

    def runs(self, text: str, size: int) -> Iterator[tuple[ImageFont.FreeTypeFont, str]]:
        """`text` cut into pieces that one font draws, in order."""
        current: int | None = None
        piece = ""
        for char in text:
            face = self.face_for(char)
            if face is None:
                continue
            if face != current and piece:
                yield self._sized(current, size), piece
                piece = ""
            current = face
            piece += char
        if piece:
            yield self._sized(current, size), piece

    def _sized(self, face: int | None, size: int) -> ImageFont.FreeTypeFont:
        font = None if face is None else self.font(face, size)
        if font is None:  # has_glyph already loaded this face, so this cannot happen
            raise RuntimeError(f"font {face} lost")
        return font

    def width(self, text: str, size: int) -> float:
        return sum(font.getlength(piece) for font, piece in self.runs(text, size))

    def fit(self, text: str, size: int, max_width: float) -> str:
        """`text` (drawable part), cut with an ellipsis to fit `max_width` pixels."""
        text = self.drawable(text).strip()
        if self.width(text, size) <= max_width:
            return text
        ellipsis = "…" if self.covers("…") else "..."
        while text and self.width(text + ellipsis, size) > max_width:
            text = text[:-1]
        return text.rstrip() + ellipsis


def _bitmap(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    image = Image.new("L", (_PROBE_SIZE * 2, _PROBE_SIZE * 2))
    ImageDraw.Draw(image).text((_PROBE_SIZE // 2, _PROBE_SIZE // 2), char, font=font, fill=255)
    return image.tobytes()


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    sublabel: str
    value: int


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    subtitle: str
    bars: tuple[Bar, ...]
    footer: str


@dataclass(frozen=True, slots=True)
class PlacedText:
    text: str
    x: float  # left edge
    y: float  # baseline
    size: int
    color: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class PlacedBar:
    """A bar's box, [left, right) x [top, bottom) in pixels; top == bottom when empty."""

    left: int
    top: int
    right: int
    bottom: int
    value: int


@dataclass(frozen=True, slots=True)
class ChartLayout:
    width: int
    height: int
    texts: tuple[PlacedText, ...]
    bars: tuple[PlacedBar, ...]


def bar_height(value: int, largest: int) -> int:
    """Pixels for `value` when the largest bar is MAX_BAR_HEIGHT tall."""
    return round(value * MAX_BAR_HEIGHT / largest) if largest > 0 else 0


def layout_bar_chart(chart: BarChart, fonts: ChartFonts) -> ChartLayout:
    """Where every bar and label goes; texts are cut to what the fonts can draw."""
    texts: list[PlacedText] = []

    def place(text: str, x: float, y: float, size: int, color: tuple[int, int, int]) -> None:
        if text:
            texts.append(PlacedText(text, x, y, size, color))

    def centered(text: str, cx: float, y: float, size: int, color: tuple[int, int, int]) -> None:
        text = fonts.drawable(text)
        place(text, cx - fonts.width(text, size) / 2, y, size, color)

    usable = WIDTH - 2 * PLOT_LEFT
    place(fonts.fit(chart.title, 28, usable), PLOT_LEFT, 48, 28, TEXT_COLOR)
    place(fonts.fit(chart.subtitle, 17, usable), PLOT_LEFT, 80, 17, MUTED_COLOR)
    bars: list[PlacedBar] = []
    largest = max((bar.value for bar in chart.bars), default=0)
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(chart.bars), 1)
    bar_width = min(64, int(slot * 0.6))
    for i, bar in enumerate(chart.bars):
        cx = PLOT_LEFT + slot * (i + 0.5)
        left = round(cx - bar_width / 2)
        top = BASELINE_Y - bar_height(bar.value, largest)
        bars.append(PlacedBar(left, top, left + bar_width, BASELINE_Y, bar.value))
        centered(str(bar.value), cx, top - 8, 18, TEXT_COLOR)
        centered(bar.label, cx, BASELINE_Y + 28, 18, TEXT_COLOR)
        centered(bar.sublabel, cx, BASELINE_Y + 52, 15, MUTED_COLOR)
    place(fonts.fit(chart.footer, 17, usable), PLOT_LEFT, HEIGHT - 16, 17, MUTED_COLOR)
    return ChartLayout(WIDTH, HEIGHT, tuple(texts), tuple(bars))


def draw_text(draw: ImageDraw.ImageDraw, text: PlacedText, fonts: ChartFonts) -> None:
    x = text.x
    for font, piece in fonts.runs(text.text, text.size):
        # Left-baseline anchors keep pieces drawn with different fonts on one line.
        draw.text((x, text.y), piece, font=font, fill=text.color, anchor="ls")
        x += font.getlength(piece)


def draw_chart(layout: ChartLayout, fonts: ChartFonts) -> bytes:
    image = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.line([(PLOT_LEFT, BASELINE_Y), (PLOT_RIGHT, BASELINE_Y)], fill=AXIS_COLOR, width=1)
    for bar in layout.bars:
        if bar.top < bar.bottom:
            draw.rectangle([bar.left, bar.top, bar.right - 1, bar.bottom - 1], fill=BAR_COLOR)
    with fonts.lock:
        for text in layout.texts:
            draw_text(draw, text, fonts)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def render_bar_chart(chart: BarChart, fonts: ChartFonts) -> bytes:
    """The chart as PNG bytes. CPU-bound: call it through asyncio.to_thread."""
    with fonts.lock:
        layout = layout_bar_chart(chart, fonts)
    return draw_chart(layout, fonts)

"""Classic meme captions: parse the user's "top|bottom" text and draw it onto an image.

Pure Pillow, no Django and no ML imports, so both the web process (validating the field) and the worker
(drawing the result) can use it cheaply.

The font is the scalable Aileron Regular that Pillow (>= 10.1) bundles for ``ImageFont.load_default(size=...)``:
it ships with a dependency we already have, so every deployment renders identically with no system fonts to
install. Its character set is limited (ASCII and a few punctuation marks), so accented letters it lacks are
drawn as their unaccented base letter (É → E) and anything else it lacks (emoji, Cyrillic) as a box.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont

MAX_MEME_TEXT = 200  # characters, whole field ("top|bottom" together), so the text stays legible on any image

SEPARATOR = "|"
MIN_FONT_SIZE = 10  # below this the text is unreadable anyway; tiny images get this and draw what fits
MARGIN_FRACTION = 0.05  # each side, and above the top / below the bottom text
BAND_FRACTION = 1 / 3  # the most of the image height each of the top and bottom blocks may take
START_SIZE_FRACTION = 1 / 8  # the first font size tried, as a fraction of the image height
STROKE_DIVISOR = 15  # outline width = size / 15: the classic look, thick enough to read on any background
BOLD_DIVISOR = 40  # Aileron is a regular weight: a white stroke of size / 40 fakes the heavy Impact look
LINE_GAP_FRACTION = 0.05  # extra space between wrapped lines, as a fraction of the font size
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)

# Whitespace controls (newline, tab, ...) are collapsed into spaces instead of being rejected.
_WHITESPACE_CONTROLS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85")


class MemeTextInvalid(ValueError):
    """The meme text can't be used; ``detail`` is a sentence fit to show the user (e.g. as a form error)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def parse_meme_text(text: str) -> tuple[str, str]:
    """'top line|bottom line' → (top, bottom); one part → top only (bottom "").

    Whitespace is stripped and runs of whitespace (newlines included) collapse to one space, because the drawn
    text is re-wrapped to the image anyway. Rejected with ``MemeTextInvalid``: more than ``MAX_MEME_TEXT``
    characters, more than one '|', and control characters (they render as garbage and can smuggle terminal
    escapes into logs). Empty text → ("", "").
    """
    stripped = text.strip()
    # Checked before any per-character work, so a huge paste costs nothing more than the strip.
    if len(stripped) > MAX_MEME_TEXT:
        raise MemeTextInvalid(f"Meme text can be at most {MAX_MEME_TEXT} characters long (this is {len(stripped)}).")
    for char in stripped:
        category = unicodedata.category(char)
        if (category == "Cc" and char not in _WHITESPACE_CONTROLS) or category == "Cs":
            raise MemeTextInvalid("Meme text can't contain control characters.")
    parts = stripped.split(SEPARATOR)
    if len(parts) > 2:
        raise MemeTextInvalid("Use at most one '|' to separate the top text from the bottom text.")
    top = " ".join(parts[0].split())
    bottom = " ".join(parts[1].split()) if len(parts) == 2 else ""
    return top, bottom


@functools.cache
def _font_data() -> bytes:
    """The bundled font file's bytes, decoded once; fonts of each size are built from them.

    Font objects themselves are not cached: a FreeType face must not be used from two threads at once, and
    building one from bytes in memory takes well under a millisecond.
    """
    font = ImageFont.load_default(size=MIN_FONT_SIZE)
    source = getattr(font, "path", None)
    if not isinstance(font, ImageFont.FreeTypeFont) or not isinstance(source, BytesIO):
        # Only a Pillow built without FreeType gets here; such a build can't draw scalable text at all.
        raise RuntimeError("Pillow was built without FreeType: the scalable default font is unavailable.")
    return source.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(BytesIO(_font_data()), size)


def _glyph_mask(char: str) -> bytes:
    """``char`` rendered small; equal renderings mean the same glyph."""
    image = Image.new("L", (48, 48))
    ImageDraw.Draw(image).text((8, 8), char, font=_font(24), fill=255)
    return image.tobytes()


@functools.cache
def _missing_glyph_mask() -> bytes:
    return _glyph_mask("\U000f0000")  # a private-use character no font defines: the "missing glyph" box


@functools.lru_cache(maxsize=4096)  # bounded: users choose the characters
def _has_glyph(char: str) -> bool:
    """Whether the bundled font draws ``char`` as itself rather than its "missing glyph" box.

    Pillow exposes no character map, so this compares renderings with the box; cached per character, so each
    costs one tiny rendering per process.
    """
    if char.isascii():
        return True
    return _glyph_mask(char) != _missing_glyph_mask()


def _displayable(text: str) -> str:
    """Replace characters the font lacks by their decomposed base letters where those exist (É → E).

    A readable "CAFE" beats "CAF□"; characters without a usable decomposition are left to render as boxes.
    """
    out = []
    for char in text:
        if not _has_glyph(char):
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            if base and all(_has_glyph(c) for c in base):
                char = base
        out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class _Block:
    """One caption (top or bottom) laid out at a font size: its wrapped lines and the metrics to draw them."""

    font: ImageFont.FreeTypeFont
    size: int
    stroke: int  # the visible black outline
    bold: int  # white stroke thickening the letters, inside the outline
    lines: list[str]
    line_step: int  # pixels from one line's top to the next's

    @property
    def height(self) -> int:
        return self.line_step * len(self.lines)

    @property
    def outline(self) -> int:
        """How far the ink reaches beyond the glyphs on each side."""
        return self.stroke + self.bold


def _wrap(text: str, font: ImageFont.FreeTypeFont, outline: int, max_width: int) -> list[str]:
    """Greedy word wrap to ``max_width`` pixels (outline included); words longer than a line break by characters.

    Every line holds at least one character, so this ends even when a single letter is wider than the image.
    """

    def fits(line: str) -> bool:
        return font.getlength(line) + 2 * outline <= max_width

    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
        if fits(word):
            current = word
            continue
        current = ""
        for char in word:
            if current and not fits(current + char):
                lines.append(current)
                current = char
            else:
                current += char
    if current:
        lines.append(current)
    return lines


def _layout(text: str, size: int, max_width: int) -> _Block:
    font = _font(size)
    stroke = max(1, round(size / STROKE_DIVISOR))
    bold = round(size / BOLD_DIVISOR)
    ascent, descent = font.getmetrics()
    line_step = ascent + descent + 2 * (stroke + bold) + round(size * LINE_GAP_FRACTION)
    return _Block(font, size, stroke, bold, _wrap(text, font, stroke + bold, max_width), line_step)


def _fit(text: str, width: int, height: int) -> _Block:
    """The largest font size whose wrapped block fits the width (minus margins) and a third of the height.

    Binary search from 1/8 of the image height down to ``MIN_FONT_SIZE``: the block grows with the size (more
    lines and taller ones), so a handful of layouts find the answer even on big images. When nothing fits,
    the minimum size is returned and the caller draws what fits.
    """
    max_width = max(1, width - 2 * round(width * MARGIN_FRACTION))
    max_height = height * BAND_FRACTION
    low, high = MIN_FONT_SIZE, max(MIN_FONT_SIZE, round(height * START_SIZE_FRACTION))
    best = _layout(text, low, max_width)
    while low <= high:
        size = (low + high) // 2
        block = _layout(text, size, max_width)
        if block.height <= max_height and all(
            block.font.getlength(line) + 2 * block.outline <= max_width for line in block.lines
        ):
            best, low = block, size + 1
        else:
            high = size - 1
    return best


def _draw_block(draw: ImageDraw.ImageDraw, block: _Block, width: int, top: int, max_height: float) -> None:
    """Draw the block's lines centred, starting at ``top``; lines beyond ``max_height`` are dropped.

    At least one line is always drawn: on a tiny image some of the text is better than none.
    """
    for index, line in enumerate(block.lines):
        if index and (index + 1) * block.line_step > max_height:
            break
        xy = (width / 2, top + index * block.line_step + block.outline)
        # The black outline first, as wide as outline and bold together; then the bold white body over it.
        draw.text(xy, line, font=block.font, fill=WHITE, anchor="ma", stroke_width=block.outline, stroke_fill=BLACK)
        if block.bold:
            draw.text(xy, line, font=block.font, fill=WHITE, anchor="ma", stroke_width=block.bold, stroke_fill=WHITE)


def _to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB copy; transparent areas become white rather than whatever colour hides under alpha 0."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # convert() copies even when the mode is already RGB


def draw_meme_text(image: Image.Image, text: str) -> Image.Image:
    """Return a new RGB image with ``text`` ("top|bottom", see ``parse_meme_text``) drawn as a classic meme.

    White uppercase letters with a black outline read on any background, the top caption at the top and the
    bottom one at the bottom, centred and wrapped within ~5% side margins, each at the largest size that keeps
    it within a third of the height. The input image is not modified. Raises ``MemeTextInvalid`` for text
    ``parse_meme_text`` rejects.
    """
    top, bottom = parse_meme_text(text)
    out = _to_rgb(image)
    width, height = out.size
    if width == 0 or height == 0:
        return out
    draw = ImageDraw.Draw(out)
    margin_y = round(height * MARGIN_FRACTION / 2)
    band = height * BAND_FRACTION
    if top:
        block = _fit(_displayable(top.upper()), width, height)
        _draw_block(draw, block, width, margin_y, band)
    if bottom:
        block = _fit(_displayable(bottom.upper()), width, height)
        shown = max(1, min(len(block.lines), int(band // block.line_step)))
        _draw_block(draw, block, width, height - margin_y - shown * block.line_step, band)
    return out

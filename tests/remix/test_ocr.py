"""Reading text in images with the real RapidOCR models shipped in its wheel (never mocked): meme captions drawn
with real TrueType fonts on scikit-image's public-domain photos are read back, a photo without text reads as
nothing, and broken input gives an error, never an exception. No database.

Every test here runs with outgoing network connections refused, so a reader that tried to download a model or a
dictionary at run time would fail them.

The site's own meme captions are set tightly enough that the reader often drops the space between two words
("KILLALLHUMANS"), so words are looked for in the read text with its whitespace removed.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skimage_data

from remix.memes import draw_meme_text
from remix.moderation import ocr

DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every outgoing connection (local sockets, e.g. a logging socket, are left alone)."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"network access attempted during an OCR test: {address!r}")
        return real_connect(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        raise OSError(f"network access attempted during an OCR test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skimage_data, name)())


def truetype(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans Bold where Debian's fonts-dejavu is installed, else the TrueType font Pillow bundles."""
    if DEJAVU_BOLD.is_file():
        return ImageFont.truetype(str(DEJAVU_BOLD), size)
    font = ImageFont.load_default(size=size)
    assert isinstance(font, ImageFont.FreeTypeFont)
    return font


def meme(image: Image.Image, top: str, bottom: str, size: int) -> Image.Image:
    """White letters with a black outline, centred at the top and the bottom (drawn here, not by remix.memes)."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    font = truetype(size)
    outline = max(2, size // 12)
    style: dict[str, Any] = {"font": font, "fill": "white", "stroke_width": outline, "stroke_fill": "black"}
    draw.text((out.width // 2, size // 4), top, anchor="ma", **style)
    draw.text((out.width // 2, out.height - size // 4), bottom, anchor="md", **style)
    return out


def compact(text: str) -> str:
    return "".join(text.split()).lower()


def assert_reads(result: ocr.OcrResult, words: list[str]) -> None:
    assert result.error is None, result.error
    read = compact(result.text)
    missing = [word for word in words if word.lower() not in read]
    assert not missing, f"{missing} not in {result.text!r}"


def test_reads_the_sites_own_meme_caption_on_a_photo() -> None:
    image = draw_meme_text(photo("astronaut"), "when the code works|on the first try")

    result = ocr.read_text(image)

    assert_reads(result, ["when", "the", "code", "works", "on", "first", "try"])
    # Reading order: the top caption's lines come before the bottom caption's.
    read = compact(result.text)
    assert read.index("code") < read.index("first")
    assert result.engine.startswith("rapidocr ")
    assert result.ms > 0
    for line in result.lines:
        assert line["score"] >= ocr.MIN_SCORE
        x, y, w, h = line["box"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= image.width and y + h <= image.height
    assert result.text == "\n".join(line["text"] for line in result.lines)


def test_reads_truetype_caption_top_and_bottom_on_a_jpeg() -> None:
    image = meme(photo("coffee"), "Buy cheap pills now", "visit scam-site.example", size=34)
    decoded = Image.open(io.BytesIO(_jpeg(image)))  # as an upload arrives: a lazily decoded JPEG

    result = ocr.read_text(decoded)

    assert_reads(result, ["buy", "cheap", "pills", "now", "visit", "scam-site.example"])
    top, bottom = result.lines[0], result.lines[-1]
    assert "buy" in top["text"].lower() and top["box"][1] < image.height / 4
    assert "visit" in bottom["text"].lower() and bottom["box"][1] > image.height / 2


def test_big_image_is_reduced_and_boxes_stay_in_its_own_coordinates() -> None:
    small = draw_meme_text(photo("chelsea"), "i can haz cheezburger|kill all humans")
    big = small.resize((small.width * 6, small.height * 6), Image.Resampling.LANCZOS)  # 2706 × 1800

    result = ocr.read_text(big)

    assert_reads(result, ["cheezburger", "kill", "all", "humans"])
    bottom = result.lines[-1]
    assert "humans" in compact(bottom["text"])
    x, y, w, h = bottom["box"]
    assert y > big.height / 2 and x + w <= big.width and y + h <= big.height
    assert w > ocr.MAX_SIDE / 4  # in the big image's pixels, not the reduced copy's


def test_reads_accented_latin_letters() -> None:
    image = meme(photo("astronaut"), "Straße über Ärger", "Café déjà vu", size=36)

    result = ocr.read_text(image)

    # DejaVu draws the accents; Pillow's bundled fallback font lacks them, so only check what was drawn.
    words = ["straße", "über", "ärger", "café", "déjà"] if DEJAVU_BOLD.is_file() else ["stra", "ber", "caf"]
    assert_reads(result, words)


def test_dark_text_on_a_transparent_background_is_read() -> None:
    image = Image.new("RGBA", (480, 160), (0, 0, 0, 0))  # transparent black: flattened naively, text vanishes
    ImageDraw.Draw(image).text((240, 80), "hidden words", font=truetype(44), fill=(0, 0, 0, 255), anchor="mm")

    result = ocr.read_text(image)

    assert_reads(result, ["hidden", "words"])


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_photo_without_text_reads_as_nothing(name: str) -> None:
    result = ocr.read_text(photo(name))

    assert result == ocr.OcrResult(text="", lines=[], ms=result.ms, engine=result.engine, error=None)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _truncated_jpeg() -> Image.Image:
    data = _jpeg(meme(photo("coffee"), "top", "bottom", size=30))
    return Image.open(io.BytesIO(data[: len(data) // 3]))  # opens (header only); decoding fails


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda: None, id="none"),
        pytest.param(lambda: b"\x89PNG not really", id="bytes"),
        pytest.param(lambda: Image.new("RGB", (0, 0)), id="empty-image"),
        pytest.param(_truncated_jpeg, id="truncated-jpeg"),
    ],
)
def test_broken_input_gives_an_error_not_an_exception(broken: Any) -> None:
    result = ocr.read_text(broken())

    assert result.error and result.error.startswith("The text reader failed")
    assert result.text == "" and result.lines == []
    assert result.as_dict()["error"] == result.error


def test_a_missing_model_is_an_error_never_a_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "_engine", None)
    monkeypatch.setattr(ocr, "REC_MODEL", "no-such-model.onnx")

    result = ocr.read_text(photo("astronaut"))

    assert result.error and "no-such-model.onnx" in result.error
    assert ocr._engine is None  # a later call tries again


@pytest.fixture
def fresh_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The reader unloaded, and a count of how many times it gets built."""
    builds: list[int] = []
    real_build = ocr._build_engine

    def counting_build() -> Any:
        builds.append(threading.get_ident())
        return real_build()

    monkeypatch.setattr(ocr, "_engine", None)
    monkeypatch.setattr(ocr, "_build_engine", counting_build)
    yield builds


def test_threads_arriving_together_load_the_engine_once(fresh_engine: list[int]) -> None:
    image = draw_meme_text(photo("coffee"), "same text|for everyone")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: ocr.read_text(image), range(4)))

    assert len(fresh_engine) == 1
    assert {result.text for result in results} == {results[0].text}
    assert_reads(results[0], ["same", "text", "for", "everyone"])


def test_importing_the_module_does_not_import_the_reader() -> None:
    import subprocess
    import sys

    heavy = "{'rapidocr', 'onnxruntime', 'numpy', 'cv2'}"
    code = f"import sys, remix.moderation.ocr; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

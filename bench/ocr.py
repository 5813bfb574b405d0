"""The cost of reading the text in one image: ``remix.moderation.ocr.read_text`` on a meme at a few sizes.

    .venv/bin/python bench/ocr.py [--runs 10] [--sizes 512,1024,2048,4096] [--library-default]

The image is scikit-image's astronaut photo with a two-line meme caption drawn by ``remix.memes``, resized
to each long side (larger ones are reduced to ``ocr.MAX_SIDE`` inside ``read_text``, and that reduction is
timed too). Prints the engine's one-off load time and the median wall-clock and CPU milliseconds per image
at each size, with what was read. ``--library-default`` also times rapidocr with its own default sizing
(short side brought to 736 px, long side at most 2000) on the same images, for comparison. CPU only; not a
test. onnxruntime spreads a call over every core, so on a busy machine the wall-clock times grow a lot.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CAPTION = "when the code works|on the first try"


def meme(side: int) -> Any:
    from PIL import Image
    from skimage import data

    from remix.memes import draw_meme_text

    image = draw_meme_text(Image.fromarray(data.astronaut()), CAPTION)  # 512 × 512
    return image.resize((side, side), Image.Resampling.LANCZOS) if side != image.width else image


def median_ms(fn: Any, runs: int) -> tuple[float, float, Any]:
    """Median wall-clock and CPU (this process, all threads) milliseconds per call, and the last result."""
    fn()  # warm up (first-call allocations)
    wall, cpu, result = [], [], None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu), result


def _load() -> str:
    """The machine's load, since a busy machine inflates wall-clock times (onnxruntime uses every core)."""
    try:
        return f"load average {Path('/proc/loadavg').read_text().split()[0]} on {os.cpu_count()} CPUs"
    except OSError:
        return f"{os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sizes", default="512,1024,2048,4096", help="long sides to time, comma-separated")
    parser.add_argument("--library-default", action="store_true", help="also time rapidocr's default sizing")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    from remix.moderation import ocr

    started = time.perf_counter()
    ocr.get_engine()
    load_ms = (time.perf_counter() - started) * 1000
    print(f"{ocr.engine_name()}: MAX_SIDE={ocr.MAX_SIDE}, MIN_SCORE={ocr.MIN_SCORE}; engine load {load_ms:.0f} ms")
    print(f"median of {args.runs} runs per size (long side of the input image); {_load()}")

    default_engine = None
    if args.library_default:
        from rapidocr import RapidOCR

        default_engine = RapidOCR(params={"Global.log_level": "warning"})

    for side in sizes:
        image = meme(side)
        ms, cpu, result = median_ms(lambda image=image: ocr.read_text(image), args.runs)
        text = result.error or " / ".join(result.text.splitlines())
        print(f"  {side:5d} px  read_text               {ms:7.0f} ms wall {cpu:7.0f} ms CPU   {text}")
        if default_engine is not None:
            import numpy as np

            bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
            ms, cpu, output = median_ms(lambda bgr=bgr: default_engine(bgr), args.runs)
            text = " / ".join(output.txts or ())
            print(f"  {side:5d} px  rapidocr default sizing {ms:7.0f} ms wall {cpu:7.0f} ms CPU   {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The cost of provenance per remix image: watermark, JPEG + XMP encode, C2PA signing, and reading it all back.

    .venv/bin/python bench/provenance_cost.py [--runs 20]

Signs with a fresh local test CA in a scratch VAR_DIR (CPU only; c2pa and the watermark never use a GPU). Prints
the median milliseconds of each step of ``remix.provenance.sign_remix`` at 512×512 and 1024×1024; not a test.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    fn()  # warm caches (module loads, signing identity)
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def measure(side: int, *, facts: Any, scratch: Path, runs: int) -> list[tuple[str, str, float]]:
    """The median cost of each provenance step for one side×side remix."""
    import numpy as np
    from PIL import Image

    from remix import provenance
    from socialapp.demo_media import make_photo

    source = Image.open(make_photo(scratch / f"source-{side}.jpg", size=(side, side), scene="city")).convert("RGB")
    noise = np.random.default_rng(side).normal(0, 8, (side, side, 3))
    image = Image.fromarray(np.clip(np.asarray(source.rotate(180)) + noise, 0, 255).astype(np.uint8))
    identity = provenance.signing_identity()
    alg = provenance._signing_alg(identity.private_key_pem)
    payload = provenance.watermark_payload(facts.job_id)
    xmp = provenance.xmp_packet()
    quality = provenance.JPEG_QUALITY

    embed, marked = median_ms(lambda: provenance.embed_watermark(image, job_id=facts.job_id), runs)
    encode, asset = median_ms(lambda: provenance._jpeg(marked, quality=quality, xmp=xmp), runs)
    parent_encode, parent = median_ms(lambda: provenance._jpeg(source, quality=quality), runs)

    def sign_only() -> bytes:
        return provenance._sign_jpeg(
            asset, parent=parent, parent_format="image/jpeg", facts=facts, payload=payload, identity=identity, alg=alg
        )

    sign, signed = median_ms(sign_only, runs)
    total, _ = median_ms(lambda: provenance.sign_remix(image=image, source=source, facts=facts), runs)
    plain, plain_jpeg = median_ms(lambda: provenance._jpeg(image, quality=quality), runs)
    read_wm, found = median_ms(lambda: provenance.read_watermark(Image.open(io.BytesIO(signed))), runs)
    verify, summary = median_ms(lambda: provenance.read_credentials(signed), runs)
    assert found == facts.job_id and summary["state"] == "trusted", (found, summary["state"])
    size = f"{side}×{side}"
    print(
        f"{size}: signed file {len(signed) / 1024:.1f} KiB vs {len(plain_jpeg) / 1024:.1f} KiB unsigned "
        f"(+{(len(signed) - len(plain_jpeg)) / 1024:.1f} KiB)",
        file=sys.stderr,
    )
    return [
        (size, "watermark embed", embed),
        (size, "JPEG q90 + XMP encode", encode),
        (size, "source JPEG encode (parent ingredient)", parent_encode),
        (size, "C2PA sign (c2pa Builder.sign, ES256)", sign),
        (size, "**sign_remix total**", total),
        (size, "for comparison: plain JPEG q90 encode", plain),
        (size, "provenance overhead (total − plain encode)", total - plain),
        (size, "read_watermark (decode JPEG + read)", read_wm),
        (size, "read_credentials (c2pa Reader + XMP + watermark)", verify),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="remix-provenance-bench-"))
    os.environ.update(VAR_DIR=str(scratch), DJANGO_SETTINGS_MODULE="socialapp.settings")
    import django

    django.setup()
    from django.conf import settings

    from remix import provenance

    chain, key, ca = provenance.make_test_ca(scratch / "signing")
    settings.REMIX_C2PA_CERT_CHAIN, settings.REMIX_C2PA_PRIVATE_KEY = str(chain), str(key)
    settings.REMIX_C2PA_TRUST_ANCHORS = str(ca)
    facts = provenance.RemixFacts(
        job_id=123,
        model_id="timbrooks/instruct-pix2pix",
        model_revision="31519b5",
        source_post_url="/posts/1/",
        source_title="Post 1 by @creator",
        prompt="make it a watercolour",
    )
    rows: list[tuple[str, str, float]] = []
    for side in (512, 1024):
        rows += measure(side, facts=facts, scratch=scratch, runs=args.runs)

    print(f"| size | step | median ms ({args.runs} runs) |")
    print("|---|---|---|")
    for size, step, ms in rows:
        print(f"| {size} | {step} | {ms:.1f} |")


if __name__ == "__main__":
    main()

"""Provenance of remixes: the signed C2PA manifest read back with c2pa's own Reader, the IPTC XMP label, the
invisible watermark (and a measured table of what it survives), the test CA and the verification summary."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import c2pa
import numpy as np
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import override_settings
from PIL import Image

from remix import provenance
from remix.memes import draw_meme_text
from remix.provenance import (
    DIGITAL_SOURCE_TYPE,
    SOURCE_ASSERTION,
    ProvenanceUnavailable,
    RemixFacts,
    embed_watermark,
    make_test_ca,
    read_credentials,
    read_watermark,
    sign_remix,
    signing_identity,
    watermark_payload,
)
from socialapp.demo_media import SCENES, make_photo

REPO_ROOT = Path(__file__).resolve().parents[2]
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
FACTS = RemixFacts(
    job_id=4242,
    model_id="timbrooks/instruct-pix2pix",
    model_revision="31519b5",
    source_post_url="https://remix.example/posts/12/",
    source_title="Post 12 by @alice (frame at 2.5 s)",
    prompt="make it a watercolour",
    actions_extra=("remix.face_protected",),
)


# --- images -------------------------------------------------------------------------------------------------------


@cache
def _scene_jpeg(name: str, size: tuple[int, int]) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return make_photo(Path(folder) / "photo.jpg", size=size, scene=name).read_bytes()


def scene(name: str, size: tuple[int, int] = (512, 512)) -> Image.Image:
    """A demo photo (flat shapes on a gradient: the hard case for a watermark)."""
    return Image.open(io.BytesIO(_scene_jpeg(name, size))).convert("RGB")


def textured(seed: int, size: tuple[int, int] = (512, 512)) -> Image.Image:
    """Smooth colour noise, closer to a photo's texture than the flat demo scenes."""
    rng = np.random.default_rng(seed)
    field = rng.normal(size=(12, 12, 3))
    field = (field - field.min()) / np.ptp(field) * 255
    smooth = Image.fromarray(field.astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    grain = rng.normal(0, 6, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(smooth) + grain, 0, 255).astype(np.uint8))


def card(size: tuple[int, int] = (512, 512)) -> Image.Image:
    """Half pure white, half pure black: every channel at its limit, where a naive watermark clips away."""
    image = Image.new("RGB", size, "white")
    image.paste((0, 0, 0), (0, size[1] // 2, size[0], size[1]))
    return image


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def stripped(data: bytes) -> Image.Image:
    """The pixels only: a new image from the decoded array, no EXIF, XMP or C2PA segments."""
    with Image.open(io.BytesIO(data)) as opened:
        return Image.fromarray(np.asarray(opened.convert("RGB")))


def reencoded(image: Image.Image, quality: int) -> Image.Image:
    return Image.open(io.BytesIO(jpeg(image, quality))).convert("RGB")


# --- signing fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("signing")
    make_test_ca(directory)
    return directory


def _signing_settings(ca_dir: Path) -> dict[str, str]:
    return {
        "REMIX_C2PA_CERT_CHAIN": str(ca_dir / "chain.pem"),
        "REMIX_C2PA_PRIVATE_KEY": str(ca_dir / "signer.key"),
        "REMIX_C2PA_TRUST_ANCHORS": str(ca_dir / "ca.pem"),
        "REMIX_C2PA_TSA_URL": "",
    }


@pytest.fixture
def signing(settings: Any, ca_dir: Path) -> Path:
    """Settings pointing at the module's test CA; returns its directory."""
    for name, value in _signing_settings(ca_dir).items():
        setattr(settings, name, value)
    return ca_dir


@pytest.fixture(scope="module")
def source_image() -> Image.Image:
    return scene("city")


@pytest.fixture(scope="module")
def remix_image() -> Image.Image:
    return textured(7)


@pytest.fixture(scope="module")
def signed(ca_dir: Path, source_image: Image.Image, remix_image: Image.Image) -> bytes:
    """One signed remix, shared by the read-back tests (signing is the slow part)."""
    with override_settings(**_signing_settings(ca_dir)):
        return sign_remix(image=remix_image, source=source_image, facts=FACTS)


def c2pa_context(trust_anchors: bytes | None = None) -> c2pa.Context:
    config: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors:
        config["trust"] = {"user_anchors": trust_anchors.decode()}
    return c2pa.Context.from_dict(config)


def c2pa_read(data: bytes, trust_anchors: bytes | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """c2pa's own Reader: (validation state, manifest store JSON, validation results)."""
    with c2pa.Reader("image/jpeg", io.BytesIO(data), context=c2pa_context(trust_anchors)) as reader:
        return str(reader.get_validation_state()), json.loads(reader.json()), reader.get_validation_results() or {}


def failure_codes(results: dict[str, Any]) -> list[str]:
    return [f["code"] for f in results.get("activeManifest", {}).get("failure", [])]


def active(store: dict[str, Any]) -> dict[str, Any]:
    return store["manifests"][store["active_manifest"]]


def assertion(manifest: dict[str, Any], label: str) -> Any:
    found = [a["data"] for a in manifest["assertions"] if a["label"] == label]
    assert len(found) == 1, f"{label}: {[a['label'] for a in manifest['assertions']]}"
    return found[0]


def flip_scan_byte(data: bytes) -> bytes:
    """Flip one bit of the entropy-coded image data (after the last SOS header), leaving every segment intact."""
    out = bytearray(data)
    sos = out.rfind(b"\xff\xda")
    start = sos + 2 + int.from_bytes(out[sos + 2 : sos + 4], "big")
    end = out.rfind(b"\xff\xd9")
    i = (start + end) // 2
    while out[i] in (0xFE, 0xFF) or out[i - 1] == 0xFF:  # keep clear of markers and stuffed bytes
        i += 1
    out[i] ^= 0x01
    return bytes(out)


# --- the manifest, read back with c2pa's own Reader ---------------------------------------------------------------


def test_signed_remix_is_valid_and_trusted_with_the_test_ca(signed: bytes, ca_dir: Path) -> None:
    state, _, results = c2pa_read(signed)
    assert state == "Valid"
    assert failure_codes(results) == ["signingCredential.untrusted"]  # intact, signer just not on a trust list

    state, _, results = c2pa_read(signed, trust_anchors=(ca_dir / "ca.pem").read_bytes())
    assert state == "Trusted"
    assert failure_codes(results) == []
    assert "signingCredential.trusted" in [s["code"] for s in results["activeManifest"]["success"]]


def test_manifest_says_what_was_done_by_whom(signed: bytes) -> None:
    manifest = active(c2pa_read(signed)[1])
    assert manifest["claim_generator_info"][0]["name"] == "Remix"
    assert manifest["title"] == f"AI remix {FACTS.job_id} of {FACTS.source_title}"

    actions = assertion(manifest, "c2pa.actions.v2")["actions"]
    by_name = {a["action"]: a for a in actions}
    assert list(by_name) == ["c2pa.opened", "c2pa.edited", "remix.face_protected", "c2pa.watermarked"]
    opened, edited = by_name["c2pa.opened"], by_name["c2pa.edited"]
    assert opened["parameters"]["ingredients"][0]["url"].endswith("c2pa.ingredient.v3")  # the parent, hash-linked
    assert edited["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert edited["softwareAgent"] == {"name": FACTS.model_id, "version": FACTS.model_revision}
    assert edited["description"] == FACTS.prompt

    assert manifest["ingredients"] == [
        {
            "title": FACTS.source_title,
            "format": "image/jpeg",
            "instance_id": manifest["ingredients"][0]["instance_id"],
            "relationship": "parentOf",
            "label": "c2pa.ingredient.v3",
        }
    ]
    training = assertion(manifest, "cawg.training-mining")["entries"]
    assert training == {
        entry: {"use": "notAllowed"}
        for entry in ("cawg.ai_generative_training", "cawg.ai_training", "cawg.ai_inference", "cawg.data_mining")
    }
    soft_binding = assertion(manifest, "c2pa.soft-binding")
    assert soft_binding["alg"] == provenance.WATERMARK_ALG
    assert base64.b64decode(soft_binding["blocks"][0]["value"]) == watermark_payload(FACTS.job_id)
    assert assertion(manifest, "remix.source")["url"] == FACTS.source_post_url


def test_xmp_carries_the_iptc_digital_source_type(signed: bytes) -> None:
    assert b"Iptc4xmpExt:DigitalSourceType" in signed
    with Image.open(io.BytesIO(signed)) as opened:
        xmp = opened.info["xmp"]
    root = ET.fromstring(xmp)
    values = [e.text for e in root.iter(f"{{{IPTC_EXT_NS}}}DigitalSourceType")]
    assert values == [DIGITAL_SOURCE_TYPE]


def test_one_flipped_pixel_byte_makes_the_manifest_invalid(signed: bytes, ca_dir: Path) -> None:
    tampered = flip_scan_byte(signed)
    assert len(tampered) == len(signed)
    state, _, results = c2pa_read(tampered, trust_anchors=(ca_dir / "ca.pem").read_bytes())
    assert state == "Invalid"
    assert "assertion.dataHash.mismatch" in failure_codes(results)

    summary = read_credentials(tampered, trust_anchors_pem=(ca_dir / "ca.pem").read_bytes())
    assert summary["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in summary["failures"]


def phone_photo(ca_dir: Path, *, fmt: str = "JPEG") -> bytes:
    """A photo as a phone writes it: EXIF with GPS, capture time and device in the file, and its own signed C2PA
    manifest (title = the camera's file name, ``stds.exif`` with the same facts, a thumbnail of the photo)."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Pixelphone", "Pixel 9 Pro"  # Make, Model
    gps = {1: "N", 2: (39.0, 21.0, 6.12), 3: "W", 4: (74.0, 25.0, 47.7)}
    exif[0x8825] = gps
    buffer = io.BytesIO()
    scene("forest").save(buffer, fmt, exif=exif.tobytes())
    definition = {
        "claim_generator_info": [{"name": "Pixel Camera", "version": "9.4"}],
        "title": "IMG_2041.jpg",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            },
            {
                "label": "stds.exif",
                "data": {
                    "@context": {"exif": "http://ns.adobe.com/exif/1.0/", "tiff": "http://ns.adobe.com/tiff/1.0/"},
                    "exif:GPSLatitude": "39,21.102N",
                    "exif:GPSLongitude": "74,25.795W",
                    "exif:DateTimeOriginal": "2026-11-02T08:31:44+01:00",
                    "tiff:Make": "Pixelphone",
                    "tiff:Model": "Pixel 9 Pro",
                },
            },
        ],
    }
    info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256, (ca_dir / "chain.pem").read_bytes(), (ca_dir / "signer.key").read_bytes(), None
    )
    dest = io.BytesIO()
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    with (
        c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": True}}}) as context,
        c2pa.Builder(definition, context=context) as builder,
        c2pa.Signer.from_info(info) as signer,
    ):
        builder.sign(signer, mime, io.BytesIO(buffer.getvalue()), dest)
    return dest.getvalue()


# What a phone's manifest says about the person: none of it may appear anywhere in a remix's file.
PRIVATE = (
    "IMG_2041",
    "GPS",
    "39,21.102N",
    "74,25.795W",
    "2026-11-02",
    "Pixelphone",
    "Pixel 9",
    "stds.exif",
    "Pixel Camera",
)


def assert_nothing_private(remix: bytes, store: dict[str, Any]) -> None:
    text = json.dumps(store)
    for secret in PRIVATE:
        assert secret not in text, secret
        assert secret.encode() not in remix, secret
    assert len(store["manifests"]) == 1  # only the site's own: no manifest of the upload travels along
    for manifest in store["manifests"].values():
        assert "thumbnail" not in manifest
        for ingredient in manifest.get("ingredients", []):
            assert "thumbnail" not in ingredient and "active_manifest" not in ingredient


def test_the_phone_photo_really_carries_what_must_not_travel(signing: Path) -> None:
    """The fixture is what the pen test used: its own manifest has the EXIF, the GPS and the file name."""
    photo = phone_photo(signing)
    _, store, _ = c2pa_read(photo, trust_anchors=(signing / "ca.pem").read_bytes())
    text = json.dumps(store)
    assert "IMG_2041.jpg" in text and "39,21.102N" in text and "stds.exif" in text
    assert "thumbnail" in active(store)


def test_a_remix_of_a_credentialed_photo_names_the_site_still_only(signing: Path, remix_image: Image.Image) -> None:
    """The parent ingredient is the still as the site re-encoded it (pixels only), never the uploaded file."""
    remix = sign_remix(image=remix_image, source=stripped(phone_photo(signing)), facts=FACTS)
    state, store, _ = c2pa_read(remix, trust_anchors=(signing / "ca.pem").read_bytes())
    assert state == "Trusted"
    (ingredient,) = active(store)["ingredients"]
    assert (ingredient["title"], ingredient["relationship"]) == (FACTS.source_title, "parentOf")
    assert_nothing_private(remix, store)


def test_the_source_ai_origin_is_stated_as_a_fact_of_ours(signing: Path, remix_image: Image.Image) -> None:
    source_type = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    facts = RemixFacts(**{**FACTS.__dict__, "source_digital_source_type": source_type})
    remix = sign_remix(image=remix_image, source=scene("forest"), facts=facts)
    _, store, _ = c2pa_read(remix, trust_anchors=(signing / "ca.pem").read_bytes())
    assert assertion(active(store), SOURCE_ASSERTION)["digitalSourceType"] == source_type


# --- the project's own summary (what the API returns) ---------------------------------------------------------------


def test_read_credentials_summarises_a_signed_remix(signed: bytes, signing: Path) -> None:
    summary = read_credentials(signed)  # trust anchors from REMIX_C2PA_TRUST_ANCHORS
    assert summary == {
        "present": True,
        "state": "trusted",
        "failures": [],
        "title": f"AI remix {FACTS.job_id} of {FACTS.source_title}",
        "actions": ["c2pa.opened", "c2pa.edited", "remix.face_protected", "c2pa.watermarked"],
        "digital_source_type": DIGITAL_SOURCE_TYPE,
        "training_mining": {
            "cawg.ai_generative_training": "notAllowed",
            "cawg.ai_inference": "notAllowed",
            "cawg.ai_training": "notAllowed",
            "cawg.data_mining": "notAllowed",
        },
        "ingredients": [{"title": FACTS.source_title, "relationship": "parentOf"}],
        "software_agent": f"{FACTS.model_id} {FACTS.model_revision}",
        "source_url": FACTS.source_post_url,
        "claim_generator": f"Remix {provenance.app_version()}",
        "iptc_digital_source_type": DIGITAL_SOURCE_TYPE,
        "watermark_job_id": FACTS.job_id,
    }


def test_without_trust_anchors_the_state_is_valid_not_trusted(signed: bytes, settings: Any) -> None:
    settings.REMIX_C2PA_TRUST_ANCHORS = ""
    summary = read_credentials(signed)
    assert (summary["state"], summary["failures"]) == ("valid", ["signingCredential.untrusted"])


def test_stripped_and_reencoded_remix_is_still_recognised_by_its_watermark(signed: bytes, signing: Path) -> None:
    laundered = jpeg(stripped(signed), quality=85)
    assert b"c2pa" not in laundered and b"DigitalSourceType" not in laundered
    summary = read_credentials(laundered)
    assert summary["present"] is False and summary["state"] is None
    assert summary["iptc_digital_source_type"] is None
    assert summary["watermark_job_id"] == FACTS.job_id


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage" * 100,
        bytes(range(256)) * 40,
        b"\xff\xd8\xff\xe0" + b"\x00" * 50,  # a JPEG that ends after its first marker
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"RIFF\x10\x00\x00\x00WEBPVP8 ",
    ],
    ids=["empty", "text", "bytes", "truncated-jpeg", "truncated-png", "truncated-webp"],
)
@pytest.mark.parametrize("mime_type", ["image/jpeg", "image/png"])
def test_garbage_is_reported_absent_never_raised(data: bytes, mime_type: str, settings: Any) -> None:
    summary = read_credentials(data, mime_type=mime_type)
    assert summary["present"] is False
    assert summary["state"] is None
    assert summary["watermark_job_id"] is None


def test_an_upload_labelled_only_by_iptc_is_read(settings: Any) -> None:
    """A photo from another AI tool: no C2PA, only the IPTC source type (element or attribute form)."""
    settings.REMIX_C2PA_TRUST_ANCHORS = ""
    trained = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    element_form = provenance.xmp_packet(digital_source_type=trained)
    attribute_form = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:Iptc4xmpExt="{IPTC_EXT_NS}" Iptc4xmpExt:DigitalSourceType="{trained}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    for xmp, expected in ((element_form, trained), (attribute_form, trained), (hostile, None)):
        buffer = io.BytesIO()
        scene("forest", (256, 256)).save(buffer, "JPEG", quality=85, xmp=xmp)
        summary = read_credentials(buffer.getvalue())
        assert (summary["present"], summary["iptc_digital_source_type"]) == (False, expected)
        assert summary["watermark_job_id"] is None


# --- the watermark --------------------------------------------------------------------------------------------------


def test_watermark_survives_metadata_stripping_and_jpeg_85() -> None:
    marked = embed_watermark(scene("sunset"), job_id=123456789)
    assert marked.mode == "RGB" and marked.size == (512, 512)
    laundered = reencoded(stripped(jpeg(marked, 90)), quality=85)
    assert read_watermark(laundered) == 123456789


def test_watermark_works_at_other_sizes_and_modes() -> None:
    for image in (textured(3, (1024, 1024)), textured(4, (768, 512)), scene("ocean", (512, 896)).convert("L")):
        marked = embed_watermark(image, job_id=77)
        assert marked.size == image.size and marked.mode == "RGB"
        assert read_watermark(reencoded(marked, 85)) == 77


def test_clean_images_carry_no_watermark() -> None:
    clean = [scene(name, size) for name in SCENES for size in ((512, 512), (640, 480))]
    clean += [textured(seed) for seed in range(6)]
    clean += [Image.new("RGB", (512, 512), grey) for grey in ("#000", "#777", "#fff")]
    clean += [Image.fromarray(np.random.default_rng(9).integers(0, 256, (512, 512, 3), dtype=np.uint8))]
    assert len(clean) == 20
    assert [read_watermark(reencoded(image, 90)) for image in clean] == [None] * 20


def test_watermark_ids_cannot_be_forged_without_the_key(settings: Any) -> None:
    settings.REMIX_WATERMARK_KEY = "another-deployment-" + "x" * 40
    forged = reencoded(embed_watermark(scene("disco"), job_id=5), 90)
    settings.REMIX_WATERMARK_KEY = "ours-" + "y" * 50
    assert read_watermark(forged) is None
    settings.REMIX_WATERMARK_KEY_FALLBACKS = ["another-deployment-" + "x" * 40]  # a rotated-out key reads old images
    assert read_watermark(forged) == 5


def test_the_watermark_key_is_not_the_secret_key(settings: Any) -> None:
    """SECRET_KEY's development default was public (in the repository): the watermark has a key of its own."""
    settings.REMIX_WATERMARK_KEY = "watermark-" + "w" * 50
    marked = reencoded(embed_watermark(scene("disco"), job_id=7), 90)
    settings.SECRET_KEY = "something-else-" + "s" * 50
    assert read_watermark(marked) == 7
    settings.REMIX_WATERMARK_KEY = settings.SECRET_KEY
    assert read_watermark(marked) is None


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (1, 1)),
        Image.new("RGB", (8, 3000)),
        Image.new("L", (64, 64), 128),
        Image.new("RGBA", (300, 200), (10, 20, 30, 0)),
        Image.new("P", (100, 100)),
        Image.new("I;16", (100, 100)),
        Image.new("F", (64, 64)),
        Image.new("RGB", (6000, 4000), "#345"),
    ],
    ids=["1px", "sliver", "grey", "rgba", "palette", "16-bit", "float", "24-megapixel"],
)
def test_odd_images_never_raise(image: Image.Image) -> None:
    assert read_watermark(image) is None


def test_job_ids_must_fit_32_bits() -> None:
    with pytest.raises(ValueError, match="32 bits"):
        embed_watermark(scene("city"), job_id=2**32)


def _resize(factor: float) -> Callable[[Image.Image], Image.Image]:
    def apply(image: Image.Image) -> Image.Image:
        size = (round(image.width * factor), round(image.height * factor))
        return reencoded(image.resize(size, Image.Resampling.LANCZOS), 90)

    return apply


def _crop(fraction: float, *, centred: bool) -> Callable[[Image.Image], Image.Image]:
    def apply(image: Image.Image) -> Image.Image:
        w, h = image.size
        if centred:
            dx, dy = round(w * fraction / 2), round(h * fraction / 2)
            return reencoded(image.crop((dx, dy, w - dx, h - dy)), 90)
        return reencoded(image.crop((0, 0, round(w * (1 - fraction)), round(h * (1 - fraction)))), 90)

    return apply


# Each row: what a re-upload elsewhere might do. All end in an ordinary JPEG without metadata.
TRANSFORMATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "none (lossless PNG)": lambda im: Image.open(io.BytesIO(_png(im))).convert("RGB"),
    "JPEG q95": lambda im: reencoded(im, 95),
    "JPEG q85": lambda im: reencoded(im, 85),
    "JPEG q75": lambda im: reencoded(im, 75),
    "JPEG q50": lambda im: reencoded(im, 50),
    "JPEG q30": lambda im: reencoded(im, 30),
    "WebP q80": lambda im: Image.open(io.BytesIO(_webp(im, 80))).convert("RGB"),
    "JPEG q85 twice": lambda im: reencoded(reencoded(im, 85), 85),
    "resize 1.5× (JPEG q90)": _resize(1.5),
    "resize 0.75× (JPEG q90)": _resize(0.75),
    "resize 0.5× (JPEG q90)": _resize(0.5),
    "resize 0.25× (JPEG q90)": _resize(0.25),
    "stretch width 1.25× (JPEG q90)": lambda im: reencoded(im.resize((round(im.width * 1.25), im.height)), 90),
    "crop 2% right/bottom (JPEG q90)": _crop(0.02, centred=False),
    "crop 10% right/bottom (JPEG q90)": _crop(0.10, centred=False),
    "crop 25% centred (JPEG q90)": _crop(0.25, centred=True),
    "rotate 2° (JPEG q90)": lambda im: reencoded(im.rotate(2, Image.Resampling.BICUBIC), 90),
    "greyscale (JPEG q90)": lambda im: reencoded(im.convert("L").convert("RGB"), 90),
    "brightness +10% (JPEG q90)": lambda im: reencoded(Image.eval(im, lambda v: min(255, round(v * 1.1))), 90),
}
# Rows that must survive on every test image: the contract the verify endpoint relies on.
MUST_SURVIVE = (
    "none (lossless PNG)",
    "JPEG q95",
    "JPEG q85",
    "JPEG q75",
    "JPEG q50",
    "JPEG q85 twice",
    "resize 1.5× (JPEG q90)",
    "resize 0.75× (JPEG q90)",
    "resize 0.5× (JPEG q90)",
    "stretch width 1.25× (JPEG q90)",
)


def _webp(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=quality)
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def robustness() -> Iterator[dict[str, dict[str, tuple[int, int]]]]:
    """Survival counts per transformation and image size, written to VAR_DIR/provenance-robustness.md."""
    sets = {
        "512×512": [
            scene("sunset"),
            scene("city"),
            draw_meme_text(scene("ocean"), "when the remix|actually works"),
            draw_meme_text(textured(11), "top text|bottom text"),
            card(),
            textured(12),
        ],
        "1024×1024": [scene("forest", (1024, 1024)), textured(13, (1024, 1024))],
        "576×1024": [scene("disco", (576, 1024))],
    }
    table: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in TRANSFORMATIONS}
    for label, images in sets.items():
        marked = [embed_watermark(image, job_id=1000 + i) for i, image in enumerate(images)]
        for name, transform in TRANSFORMATIONS.items():
            found = sum(read_watermark(transform(m)) == 1000 + i for i, m in enumerate(marked))
            table[name][label] = (found, len(images))
    _write_table(table, list(sets))
    yield table


def _write_table(table: dict[str, dict[str, tuple[int, int]]], columns: list[str]) -> None:
    lines = [
        "# Watermark robustness (measured by tests/remix/test_provenance.py)",
        "",
        f"invisible-watermark `dwtDctSvd` on a {provenance._CANONICAL_SIDE} px canonical square, U-channel scale "
        f"{provenance._WATERMARK_SCALE}, 64-bit payload (job id + 32-bit HMAC tag) + parity. A cell is how many "
        "watermarked images gave back their exact job id after the transformation (metadata always stripped; "
        "a wrong id never came back, the HMAC tag rules that out). Images: flat demo scenes (the hard case for "
        "a watermark), the same with meme captions, a half-white half-black card, and smooth textured noise.",
        "",
        "| transformation | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, cells in table.items():
        lines.append(f"| {name} | " + " | ".join(f"{cells[c][0]}/{cells[c][1]}" for c in columns) + " |")
    out = Path(django_settings.VAR_DIR) / "provenance-robustness.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", MUST_SURVIVE)
def test_watermark_survives(robustness: dict[str, dict[str, tuple[int, int]]], name: str) -> None:
    for label, (found, total) in robustness[name].items():
        assert found == total, f"{name} at {label}: {found}/{total}"


def test_robustness_table_is_written(robustness: dict[str, dict[str, tuple[int, int]]]) -> None:
    text = (Path(django_settings.VAR_DIR) / "provenance-robustness.md").read_text()
    assert "| JPEG q85 |" in text and "| crop 25% centred (JPEG q90) |" in text


# --- the signing identity and the test CA ---------------------------------------------------------------------------


def test_missing_signing_files_make_provenance_unavailable(settings: Any, tmp_path: Path) -> None:
    settings.REMIX_C2PA_CERT_CHAIN = str(tmp_path / "nope.pem")
    settings.REMIX_C2PA_PRIVATE_KEY = str(tmp_path / "nope.key")
    with pytest.raises(ProvenanceUnavailable) as caught:
        signing_identity()
    assert "remix_make_signing_cert" in caught.value.detail
    with pytest.raises(ProvenanceUnavailable):
        sign_remix(image=scene("city"), source=scene("city"), facts=FACTS)


def test_a_key_that_does_not_match_the_certificate_is_refused(settings: Any, ca_dir: Path, tmp_path: Path) -> None:
    _, other_key, _ = make_test_ca(tmp_path / "other")
    settings.REMIX_C2PA_CERT_CHAIN = str(ca_dir / "chain.pem")
    settings.REMIX_C2PA_PRIVATE_KEY = str(other_key)
    with pytest.raises(ProvenanceUnavailable, match="does not belong"):
        signing_identity()


def test_signing_identity_is_read_from_settings(signing: Path, settings: Any) -> None:
    settings.REMIX_C2PA_TSA_URL = "http://timestamp.example/"
    identity = signing_identity()
    assert identity.cert_chain_pem == (signing / "chain.pem").read_bytes()
    assert identity.private_key_pem == (signing / "signer.key").read_bytes()
    assert identity.tsa_url == "http://timestamp.example/"


def test_test_ca_issues_a_certificate_c2pa_accepts(tmp_path: Path) -> None:
    chain_path, key_path, ca_path = make_test_ca(tmp_path / "ca")
    leaf, root = x509.load_pem_x509_certificates(chain_path.read_bytes())
    assert root == x509.load_pem_x509_certificate(ca_path.read_bytes())
    assert leaf.issuer == root.subject != leaf.subject  # issued by the CA, not self-signed
    leaf.verify_directly_issued_by(root)
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8

    before = [p.read_bytes() for p in (chain_path, key_path, ca_path)]
    assert make_test_ca(tmp_path / "ca") == (chain_path, key_path, ca_path)
    assert [p.read_bytes() for p in (chain_path, key_path, ca_path)] == before  # idempotent
    key_path.unlink()
    make_test_ca(tmp_path / "ca")
    assert chain_path.read_bytes() != before[0]  # a missing file means a new pair


def test_management_command_prints_the_settings_to_use(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("remix_make_signing_cert", str(tmp_path / "signing"), stdout=out)
    text = out.getvalue()
    for line in (
        f"REMIX_C2PA_CERT_CHAIN={tmp_path / 'signing' / 'chain.pem'}",
        f"REMIX_C2PA_PRIVATE_KEY={tmp_path / 'signing' / 'signer.key'}",
        f"REMIX_C2PA_TRUST_ANCHORS={tmp_path / 'signing' / 'ca.pem'}",
    ):
        assert line in text.splitlines()


def test_reading_credentials_does_not_load_torch() -> None:
    """The web process verifies uploads; invisible-watermark's package imports torch, our loader must not."""
    code = (
        "import io, sys, django; django.setup()\n"
        "from PIL import Image\n"
        "from remix import provenance\n"
        "buffer = io.BytesIO(); Image.new('RGB', (512, 512), 'teal').save(buffer, 'JPEG')\n"
        "provenance.read_credentials(buffer.getvalue())\n"
        "provenance.embed_watermark(Image.new('RGB', (512, 512)), job_id=1)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "socialapp.settings", "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, check=True, timeout=60)


def test_batched_watermark_embedder_matches_the_library_block_by_block() -> None:
    """The batched encoder does the library's arithmetic: same pixels, and each reads the other's mark."""
    import numpy as np

    rng = np.random.default_rng(7)
    canonical = rng.uniform(0, 255, size=(256, 256, 3)).astype(np.float32)
    bits = provenance._payload_bits(provenance.watermark_payload(4242))
    library = provenance._dwt_dct_svd().EmbedDwtDctSvd
    batched = provenance._embedder_class()
    kwargs = {"wmLen": len(bits), "scales": provenance._SCALES, "block": 4}
    by_library = library(watermarks=bits, **kwargs).encode(canonical.copy())
    by_batch = batched(watermarks=bits, **kwargs).encode(canonical.copy())
    assert np.abs(by_library - by_batch).max() < 1e-3
    assert [int(b) for b in library(watermarks=[], **kwargs).decode(by_batch)] == bits
    assert [int(b) for b in batched(watermarks=[], **kwargs).decode(by_library)] == bits

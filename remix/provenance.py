"""Provenance of remixes: an invisible watermark, an IPTC label and a signed C2PA manifest in every image.

Three layers, each for a different reader:

- **C2PA manifest** (c2pa-python, the Content Authenticity Initiative's library): signed claims that the image is
  an AI edit of a named parent, by which model, with which prompt, and that AI training and data mining are not
  allowed. Verifiable offline; breaks (by design) when the pixels change.
- **IPTC XMP**: ``Iptc4xmpExt:DigitalSourceType``, the field large platforms read to apply "AI info" labels.
- **Invisible watermark** (invisible-watermark, as diffusers uses): the job id plus an HMAC tag in the pixels, so
  the image is still recognised after its metadata is stripped and it is re-encoded. ``bench`` and
  ``tests/remix/test_provenance.py`` measure which transformations it survives.

``sign_remix`` applies all three; ``read_credentials`` reads them back from any uploaded file, never raising.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hmac
import importlib.metadata
import importlib.util
import io
import json
import logging
import tomllib
import types
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import c2pa
from django.conf import settings
from django.utils.crypto import salted_hmac
from PIL import Image

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"

APP_NAME = "Remix"

# The soft-binding algorithm name recorded in manifests: which watermark, with which layout, carries the payload.
WATERMARK_ALG = "remix.watermark.imwatermark-dwtDctSvd.v1"
# The 64-bit payload (32-bit job id + 32-bit HMAC tag) plus one parity bit. 65, not 64: imwatermark lays bits out in
# raster order over 4×4 blocks of the half-size wavelet band, 32 blocks a row at the canonical size, so a 64-bit
# message would give each bit the same columns of blocks in every row — visible stripes on flat skies — where 65
# shifts by one block a row and spreads every bit over the whole image.
_PAYLOAD_BITS = 64
_WATERMARK_BITS = _PAYLOAD_BITS + 1
# The watermark is embedded in (and read from) the image resized to this square, whatever its real size and aspect,
# so a resized copy is read on the same grid. At 256 a block is 16 px of a 512 px remix (aligned with JPEG's 16×16
# macroblocks) and the mark sits in low frequencies that JPEG and downscaling keep; 512 lost bits to JPEG q50 and to
# 0.5× resizes in our measurements.
_CANONICAL_SIDE = 256
# Quantisation step of the blocks' largest singular value in the U (chroma) plane: imwatermark's default is 36; 48
# survived JPEG q50 and 0.5× resizes on every flat test image.
_WATERMARK_SCALE = 48
# The same bits in luma (Y) too, at a smaller step. Chroma alone failed on saturated, noisy content at non-square
# sizes once re-encoded with 4:2:0 subsampling (0 of 18 tiny-model remixes read after strip + JPEG q85); with luma
# added 18 of 18 did, for ~33.4 dB PSNR instead of ~35.1 dB. Luma is never subsampled by JPEG.
_LUMA_SCALE = 24
_SCALES = [_LUMA_SCALE, _WATERMARK_SCALE, 0]
_WATERMARK_KEY_SALT = "remix.provenance.watermark"
# Above this, pixels are reduced before the watermark is read (it lives at 256 px anyway).
_READ_MAX_SIDE = 2048

JPEG_QUALITY = 90

TRAINING_MINING_ENTRIES = ("cawg.ai_generative_training", "cawg.ai_training", "cawg.ai_inference", "cawg.data_mining")
SOURCE_ASSERTION = "remix.source"
# A custom C2PA action (the spec lets entities name their own, outside the c2pa. namespace): face protection put
# the source's faces back over the AI edit. Its parameters say how many.
FACE_PROTECTED_ACTION = "remix.face_protected"
FACE_PROTECTED_DESCRIPTION = "Faces restored from the original (face protection)"

_IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_PLUS_DATA_MINING_PROHIBITED = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"


class ProvenanceUnavailable(Exception):
    """No usable signing identity (certificate chain and key), so no remix can be signed."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class RemixFacts:
    """What a remix's manifest says about it."""

    job_id: int
    model_id: str
    model_revision: str
    source_post_url: str  # absolute or site-relative URL of the source post
    source_title: str  # e.g. "Post 12 by @alice (frame at 2.5 s)"
    prompt: str
    actions_extra: tuple[str, ...] = ()  # custom action names, e.g. ("remix.face_protected",)
    protected_faces: int = 0  # faces restored from the source (face protection); > 0 adds FACE_PROTECTED_ACTION
    # The IPTC digital source type the source's own credentials declared (an AI-made upload), or None. Recorded as a
    # fact of ours: the upload's manifest itself is never carried into a remix (it holds EXIF, GPS, device, names).
    source_digital_source_type: str | None = None


@dataclass(frozen=True)
class SigningIdentity:
    cert_chain_pem: bytes  # the signing certificate first, then its issuers
    private_key_pem: bytes
    tsa_url: str | None  # an RFC 3161 timestamp authority, or None


# --- the watermark ------------------------------------------------------------------------------------------------


@functools.cache
def _dwt_dct_svd() -> types.ModuleType:
    """invisible-watermark's dwtDctSvd module, loaded on its own.

    ``import imwatermark`` runs the package's ``__init__``, which imports its rivaGan method and with it torch; the web
    process must not load torch (see remix/pipeline.py), and this method needs only numpy, OpenCV and PyWavelets.
    """
    spec = importlib.util.find_spec("imwatermark")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("invisible-watermark is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "dwtDctSvd.py"
    module_spec = importlib.util.spec_from_file_location("_remix_imwatermark_dwtdctsvd", path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@functools.cache
def _dct_matrix(size: int) -> np.ndarray:
    """The orthonormal DCT-II matrix ``D`` (what ``cv2.dct`` computes on a block B is ``D @ B @ D.T``)."""
    import numpy as np

    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2.0 / size)
    matrix[0, :] = np.sqrt(1.0 / size)
    return matrix


@functools.cache
def _embedder_class() -> type:
    """invisible-watermark's ``EmbedDwtDctSvd`` with its per-block loops done as one batched numpy call.

    The library visits the wavelet band's 4×4 blocks one at a time in Python (a DCT, an SVD, a quantised first singular
    value, the inverse): about 2,000 blocks and 90 ms per image. Here all blocks go through ``np.linalg.svd`` at once;
    the arithmetic is the library's own, so marks made either way read back either way (a test checks both).
    """
    import numpy as np

    base = _dwt_dct_svd().EmbedDwtDctSvd

    class BatchedDwtDctSvd(base):  # type: ignore[misc,valid-type]
        def _blocks(self, frame: np.ndarray) -> tuple[np.ndarray, int, int]:
            size = self._block
            rows, cols = frame.shape[0] // size, frame.shape[1] // size
            view = frame[: rows * size, : cols * size].reshape(rows, size, cols, size).swapaxes(1, 2)
            return view.reshape(rows * cols, size, size).astype(np.float64), rows, cols

        def _first_singular_values(self, blocks: np.ndarray) -> tuple[np.ndarray, ...]:
            dct = _dct_matrix(self._block)
            u, s, vt = np.linalg.svd(dct @ blocks @ dct.T)
            return u, s, vt

        def encode_frame(self, frame: np.ndarray, scale: float) -> None:
            size = self._block
            blocks, rows, cols = self._blocks(frame)
            u, s, vt = self._first_singular_values(blocks)
            bits = np.resize(np.asarray(self._watermarks, dtype=np.float64), len(blocks))  # bit of block n: n % len
            s[:, 0] = (s[:, 0] // scale + 0.25 + 0.5 * bits) * scale
            dct = _dct_matrix(size)
            diffused = dct.T @ ((u * s[:, None, :]) @ vt) @ dct
            frame[: rows * size, : cols * size] = (
                diffused.reshape(rows, cols, size, size).swapaxes(1, 2).reshape(rows * size, cols * size)
            )

        def decode_frame(self, frame: np.ndarray, scale: float, scores: list[list[int]]) -> list[list[int]]:
            blocks, _, _ = self._blocks(frame)
            _, s, _ = self._first_singular_values(blocks)
            block_scores = ((s[:, 0] % scale) > scale * 0.5).astype(int)
            for index, score in enumerate(block_scores.tolist()):
                scores[index % self._wmLen].append(score)
            return scores

    return BatchedDwtDctSvd


def _watermark_keys() -> list[bytes]:
    # REMIX_WATERMARK_KEY, a secret of its own (not SECRET_KEY, whose development default was public); fallbacks
    # keep watermarks of images made before a key rotation readable.
    current = settings.REMIX_WATERMARK_KEY
    return [str(current).encode(), *(str(k).encode() for k in settings.REMIX_WATERMARK_KEY_FALLBACKS)]


def _tag(job_id: int, *, secret: str | bytes | None = None) -> bytes:
    key = secret if secret is not None else _watermark_keys()[0]
    return salted_hmac(_WATERMARK_KEY_SALT, job_id.to_bytes(4, "big"), secret=key, algorithm="sha256").digest()[:4]


def watermark_payload(job_id: int) -> bytes:
    """The 8 bytes the watermark carries: the job id (big-endian) and its truncated HMAC-SHA256 tag."""
    if not 0 <= job_id < 2**32:
        raise ValueError(f"job id {job_id} does not fit the watermark's 32 bits")
    return job_id.to_bytes(4, "big") + _tag(job_id)


def _payload_bits(payload: bytes) -> list[int]:
    bits = [(byte >> (7 - i)) & 1 for byte in payload for i in range(8)]
    return [*bits, sum(bits) % 2]


def _canonical(pixels: np.ndarray) -> np.ndarray:
    """The image (float32 RGB) resized to the canonical square, on which the watermark lives."""
    import cv2

    height, width = pixels.shape[:2]
    shrinking = width * height >= _CANONICAL_SIDE * _CANONICAL_SIDE
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(pixels, (_CANONICAL_SIDE, _CANONICAL_SIDE), interpolation=interpolation).astype("float32")


def embed_watermark(image: Image.Image, *, job_id: int) -> Image.Image:
    """Return an RGB copy of ``image`` carrying ``job_id`` invisibly (see ``read_watermark``).

    The mark is computed on the image resized to a 256 px square and its difference is resized back and added, so any
    size works (long side ≥ 512 in production; images under 256 px get a weaker mark). Raises ValueError for an id
    that does not fit 32 bits.
    """
    import cv2
    import numpy as np

    bits = _payload_bits(watermark_payload(job_id))
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width = pixels.shape[:2]
    canonical = _canonical(pixels)
    # float32 throughout: imwatermark writes the wavelet band back into the image's own dtype, and in uint8 that
    # truncation alone costs bits under JPEG.
    embedder = _embedder_class()(watermarks=bits, wmLen=len(bits), scales=_SCALES, block=4)
    marked = embedder.encode(np.ascontiguousarray(canonical[:, :, ::-1]))[:, :, ::-1]  # it works in BGR
    residual = (marked - canonical).astype(np.float32)
    if (width, height) != (_CANONICAL_SIDE, _CANONICAL_SIDE):
        shrinking = width * height < _CANONICAL_SIDE * _CANONICAL_SIDE
        residual = cv2.resize(
            residual, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        )
    out = pixels  # a fresh float32 array: worked on in place (each temporary of a 512² image costs ~0.5 ms)
    out += residual
    # Where a channel would clip (white, black, saturated colour: meme captions, blown skies), clipping would erase the
    # mark; moving the pixel's three channels together instead changes its luminance by a few levels and leaves the
    # chroma (U = 0.492·(B − Y)) the mark lives in exactly as embedded.
    red, green, blue = out[:, :, 0], out[:, :, 1], out[:, :, 2]  # (elementwise beats .max(axis=2) tenfold)
    over = np.maximum(red, green)
    np.maximum(over, blue, out=over)
    over -= 255
    np.maximum(over, 0, out=over)
    out -= over[:, :, None]
    under = np.minimum(red, green)
    np.minimum(under, blue, out=under)
    np.negative(under, out=under)
    np.maximum(under, 0, out=under)
    out += under[:, :, None]
    np.rint(out, out=out)
    np.maximum(out, 0, out=out)
    np.minimum(out, 255, out=out)
    return Image.fromarray(out.astype(np.uint8), "RGB")


def _decode_bits(image: Image.Image) -> list[int]:
    import numpy as np

    if max(image.size) > _READ_MAX_SIDE:
        image = image.reduce(-(-max(image.size) // _READ_MAX_SIDE))
    canonical = _canonical(np.asarray(image.convert("RGB"), dtype=np.float32))
    embedder = _embedder_class()(watermarks=[], wmLen=_WATERMARK_BITS, scales=_SCALES, block=4)
    return [int(b) for b in embedder.decode(np.ascontiguousarray(canonical[:, :, ::-1]))]


def read_watermark(image: Image.Image) -> int | None:
    """The job id whose watermark ``image`` carries, or None.

    A decoded payload counts only if its HMAC tag matches, so a random image passes with probability 2⁻³² and ids
    cannot be forged without the secret key. Never raises: odd images (tiny, grey, RGBA, huge) give None or an id.
    """
    try:
        if image.width < 1 or image.height < 1:
            return None
        bits = _decode_bits(image)
    except Exception:  # a decoder error on a strange image means "no watermark", not a failed request
        logger.debug("watermark decode failed", exc_info=True)
        return None
    payload_bits, parity = bits[:_PAYLOAD_BITS], bits[_PAYLOAD_BITS]
    if sum(payload_bits) % 2 != parity:
        return None
    payload = bytes(int("".join(map(str, payload_bits[i : i + 8])), 2) for i in range(0, _PAYLOAD_BITS, 8))
    job_id, tag = int.from_bytes(payload[:4], "big"), payload[4:]
    if any(hmac.compare_digest(tag, _tag(job_id, secret=key)) for key in _watermark_keys()):
        return job_id
    return None


# --- signing ------------------------------------------------------------------------------------------------------


@functools.cache
def app_version() -> str:
    """This app's version, for the manifest's claim generator."""
    try:
        return importlib.metadata.version("remix")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:  # not installed as a distribution: the checkout's pyproject.toml says
        with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def _library_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _setting_path(name: str, default: Path) -> Path:
    value = getattr(settings, name, "") or default
    return Path(value).expanduser()


def signing_identity() -> SigningIdentity:
    """The certificate chain, key and timestamp authority remixes are signed with, from settings.

    ``REMIX_C2PA_CERT_CHAIN`` and ``REMIX_C2PA_PRIVATE_KEY`` are file paths (default ``VAR_DIR/signing/chain.pem`` and
    ``VAR_DIR/signing/signer.key``, made by ``manage.py remix_make_signing_cert``); ``REMIX_C2PA_TSA_URL`` may be
    empty. Read once per process (per path and modification time). Raises ProvenanceUnavailable with a sentence when
    the files are missing, unreadable or do not belong together.
    """
    signing_dir = Path(settings.VAR_DIR) / "signing"
    chain_path = _setting_path("REMIX_C2PA_CERT_CHAIN", signing_dir / "chain.pem")
    key_path = _setting_path("REMIX_C2PA_PRIVATE_KEY", signing_dir / "signer.key")
    tsa_url = getattr(settings, "REMIX_C2PA_TSA_URL", "") or None
    try:
        stamps = (chain_path.stat().st_mtime_ns, key_path.stat().st_mtime_ns)
    except OSError as exc:
        raise ProvenanceUnavailable(
            f"The C2PA signing certificate or key is missing ({exc.filename}); run `manage.py remix_make_signing_cert` "
            "or set REMIX_C2PA_CERT_CHAIN and REMIX_C2PA_PRIVATE_KEY."
        ) from exc
    return _load_identity(str(chain_path), str(key_path), stamps, tsa_url)


@functools.lru_cache(maxsize=4)
def _load_identity(chain_path: str, key_path: str, _stamps: tuple[int, int], tsa_url: str | None) -> SigningIdentity:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        chain_pem, key_pem = Path(chain_path).read_bytes(), Path(key_path).read_bytes()
    except OSError as exc:
        raise ProvenanceUnavailable(
            f"The C2PA signing files could not be read: {exc.strerror} ({exc.filename})."
        ) from exc
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise ProvenanceUnavailable(f"{chain_path} holds no PEM certificate chain.") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ProvenanceUnavailable(f"{key_path} holds no unencrypted PEM private key.") from exc
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if chain[0].public_key().public_bytes(serialization.Encoding.DER, public) != key.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise ProvenanceUnavailable(
            f"The private key {key_path} does not belong to the first certificate of {chain_path}."
        )
    _signing_alg(key_pem)  # raises for key types C2PA cannot sign with
    return SigningIdentity(cert_chain_pem=chain_pem, private_key_pem=key_pem, tsa_url=tsa_url)


@functools.lru_cache(maxsize=4)
def _signing_alg(private_key_pem: bytes) -> c2pa.C2paSigningAlg:
    """The C2PA signature algorithm for a key: ES256/384/512 by curve, PS256 for RSA, Ed25519."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key = serialization.load_pem_private_key(private_key_pem, password=None)
    curves = {"secp256r1": c2pa.C2paSigningAlg.ES256, "secp384r1": c2pa.C2paSigningAlg.ES384}
    curves["secp521r1"] = c2pa.C2paSigningAlg.ES512
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in curves:
        return curves[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    raise ProvenanceUnavailable("The C2PA signing key must be EC P-256/384/521, RSA or Ed25519.")


def _builder_context() -> c2pa.Context:
    return c2pa.Context.from_dict(
        {
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            # The image is its own preview; a thumbnail (and the source's) would double the file for nothing.
            "builder": {"thumbnail": {"enabled": False}},
        }
    )


def xmp_packet(*, digital_source_type: str = DIGITAL_SOURCE_TYPE) -> bytes:
    """The XMP packet every remix carries: the IPTC digital source type and the PLUS data-mining prohibition."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{_RDF_NS}">\n'
        f'  <rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{_IPTC_EXT_NS}"'
        ' xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/">\n'
        f"   <Iptc4xmpExt:DigitalSourceType>{digital_source_type}</Iptc4xmpExt:DigitalSourceType>\n"
        f"   <plus:DataMining>{_PLUS_DATA_MINING_PROHIBITED}</plus:DataMining>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def manifest_definition(facts: RemixFacts, *, payload: bytes) -> dict[str, Any]:
    """The C2PA manifest of a remix (before signing), as c2pa's Builder takes it."""
    model = {
        "name": facts.model_id or "unknown model",
        **({"version": facts.model_revision} if facts.model_revision else {}),
    }
    app = {"name": APP_NAME, "version": app_version()}
    actions: list[dict[str, Any]] = [
        {"action": "c2pa.opened", "softwareAgent": app, "parameters": {"ingredientIds": ["parent"]}},
        {
            "action": "c2pa.edited",
            "digitalSourceType": DIGITAL_SOURCE_TYPE,
            "softwareAgent": model,
            "description": facts.prompt,
        },
        *(
            [
                {
                    "action": FACE_PROTECTED_ACTION,
                    "softwareAgent": app,
                    "description": FACE_PROTECTED_DESCRIPTION,
                    "parameters": {"faces": facts.protected_faces},
                }
            ]
            if facts.protected_faces > 0
            else []
        ),
        *({"action": name, "softwareAgent": app} for name in facts.actions_extra),
        {
            "action": "c2pa.watermarked",
            "softwareAgent": {"name": "invisible-watermark", "version": _library_version("invisible-watermark")},
        },
    ]
    return {
        "claim_generator_info": [app],
        "title": f"AI remix {facts.job_id} of {facts.source_title}",
        "format": "image/jpeg",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions, "allActionsIncluded": True}},
            {
                "label": "c2pa.soft-binding",
                "data": {
                    "alg": WATERMARK_ALG,
                    "name": "Remix job id (32 bits) and HMAC tag (32 bits), invisible watermark",
                    "blocks": [{"scope": {}, "value": base64.b64encode(payload).decode()}],
                    "pad": [0],
                },
            },
            {
                "label": "cawg.training-mining",
                "data": {"entries": {entry: {"use": "notAllowed"} for entry in TRAINING_MINING_ENTRIES}},
            },
            {
                "label": SOURCE_ASSERTION,
                "data": {
                    "url": facts.source_post_url,
                    "title": facts.source_title,
                    "job": facts.job_id,
                    **(
                        {"digitalSourceType": facts.source_digital_source_type}
                        if facts.source_digital_source_type
                        else {}
                    ),
                },
            },
        ],
    }


def _jpeg(image: Image.Image, *, quality: int, xmp: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    if xmp is None:
        image.convert("RGB").save(buffer, "JPEG", quality=quality)
    else:
        image.convert("RGB").save(buffer, "JPEG", quality=quality, xmp=xmp)
    return buffer.getvalue()


def sign_remix(*, image: Image.Image, source: Image.Image, facts: RemixFacts) -> bytes:
    """The remix as the JPEG people download: watermarked, IPTC-labelled, C2PA-signed.

    Embeds the watermark of ``facts.job_id`` into ``image``, encodes it as JPEG (quality 90) with the XMP packet, and
    signs a manifest whose parent ingredient is ``source``: the still as the site re-encoded it (pixels only), never
    the uploaded file, whose own manifest would carry the uploader's EXIF (GPS, capture time, device), file name and
    thumbnails into every remix. Raises ProvenanceUnavailable without a signing identity (checked first, before any
    pixel work); c2pa.C2paError if signing itself fails.
    """
    identity = signing_identity()
    alg = _signing_alg(identity.private_key_pem)
    payload = watermark_payload(facts.job_id)
    marked = embed_watermark(image, job_id=facts.job_id)
    asset = _jpeg(marked, quality=JPEG_QUALITY, xmp=xmp_packet())
    return _sign_jpeg(
        asset,
        parent=_jpeg(source, quality=JPEG_QUALITY),
        parent_format="image/jpeg",
        facts=facts,
        payload=payload,
        identity=identity,
        alg=alg,
    )


def _sign_jpeg(
    asset: bytes,
    *,
    parent: bytes,
    parent_format: str,
    facts: RemixFacts,
    payload: bytes,
    identity: SigningIdentity,
    alg: c2pa.C2paSigningAlg,
) -> bytes:
    info = c2pa.C2paSignerInfo(alg, identity.cert_chain_pem, identity.private_key_pem, identity.tsa_url)
    with (
        _builder_context() as context,
        c2pa.Builder(manifest_definition(facts, payload=payload), context=context) as builder,
        c2pa.Signer.from_info(info) as signer,
    ):
        builder.add_ingredient(
            {"title": facts.source_title, "relationship": "parentOf", "label": "parent"},
            parent_format,
            io.BytesIO(parent),
        )
        dest = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(asset), dest)
    return dest.getvalue()


# --- the test CA --------------------------------------------------------------------------------------------------


def make_test_ca(directory: Path, *, common_name: str = "Remix test signer") -> tuple[Path, Path, Path]:
    """Write a local test root CA and a signing certificate it issued: ``(chain.pem, signer.key, ca.pem)``.

    ES256 (P-256). The root is CA:TRUE with keyCertSign; the signer is CA:FALSE, keyUsage digitalSignature (critical)
    and extendedKeyUsage emailProtection, which c2pa's default EKU list accepts. ``chain.pem`` is the signer then the
    root, ``signer.key`` PKCS#8 (mode 0600), ``ca.pem`` the trust anchor to load into verifiers. Idempotent: existing
    files are kept unless one is missing or the signer certificate expires within a week.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    chain_path, key_path, ca_path = directory / "chain.pem", directory / "signer.key", directory / "ca.pem"
    now = datetime.datetime.now(datetime.UTC)
    if all(p.is_file() for p in (chain_path, key_path, ca_path)):
        try:
            leaf = x509.load_pem_x509_certificates(chain_path.read_bytes())[0]
            if leaf.not_valid_after_utc > now + datetime.timedelta(days=7):
                return chain_path, key_path, ca_path
        except (ValueError, IndexError):
            pass  # unreadable: make new ones
    directory.mkdir(parents=True, exist_ok=True)

    def usage(*, digital_signature: bool = False, key_cert_sign: bool = False) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=digital_signature,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=key_cert_sign,
            crl_sign=key_cert_sign,
            encipher_only=False,
            decipher_only=False,
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, APP_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, "Remix test root CA"),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, APP_NAME),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    chain_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    ca_path.write_bytes(ca.public_bytes(pem))
    return chain_path, key_path, ca_path


# --- reading ------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _reader_context(trust_anchors_pem: bytes | None) -> c2pa.Context:
    config: dict[str, Any] = {
        # Never fetch anything an uploaded file points at: verification is offline (and no SSRF).
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    }
    if trust_anchors_pem:
        config["trust"] = {"user_anchors": trust_anchors_pem.decode()}
    return c2pa.Context.from_dict(config)


def _configured_trust_anchors() -> bytes | None:
    path = getattr(settings, "REMIX_C2PA_TRUST_ANCHORS", "")
    if not path:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError:
        logger.info("REMIX_C2PA_TRUST_ANCHORS %s could not be read; verifying without trust anchors", path)
        return None


def _agent_name(agent: Any) -> str | None:
    if isinstance(agent, dict):
        name, version = agent.get("name"), agent.get("version")
        return f"{name} {version}" if name and version else (str(name) if name else None)
    return str(agent) if agent else None


def _summarise_manifest(store: dict[str, Any]) -> dict[str, Any]:
    manifest = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", []) if isinstance(a, dict)}
    actions_data = assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions") or {}
    actions = [a for a in actions_data.get("actions", []) if isinstance(a, dict)]
    generative = next((a for a in actions if a.get("digitalSourceType")), None)
    training = assertions.get("cawg.training-mining") or assertions.get("c2pa.training-mining")
    source = assertions.get(SOURCE_ASSERTION) or {}
    generator = next(iter(manifest.get("claim_generator_info") or []), None)
    return {
        "title": manifest.get("title"),
        "actions": [str(a.get("action")) for a in actions],
        "digital_source_type": generative.get("digitalSourceType") if generative else None,
        "training_mining": (
            {str(k): str(v.get("use")) for k, v in training.get("entries", {}).items() if isinstance(v, dict)}
            if isinstance(training, dict)
            else None
        ),
        "ingredients": [
            {"title": i.get("title"), "relationship": i.get("relationship")} for i in manifest.get("ingredients", [])
        ],
        "software_agent": _agent_name(generative.get("softwareAgent")) if generative else None,
        "source_url": source.get("url") if isinstance(source, dict) else None,
        "claim_generator": _agent_name(generator) if generator else manifest.get("claim_generator"),
    }


def _xmp_digital_source_type(xmp: bytes | str | None) -> str | None:
    """``Iptc4xmpExt:DigitalSourceType`` from an XMP packet (element, attribute or rdf:resource form), else None."""
    if not xmp:
        return None
    data = xmp.encode() if isinstance(xmp, str) else bytes(xmp)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None  # XMP has no DTD; refusing one rules out entity-expansion attacks
    try:
        root = ET.fromstring(data.strip(b"\x00 \r\n\t"))  # noqa: S314 (DTD-free, see above)
    except ET.ParseError:
        return None
    name = f"{{{_IPTC_EXT_NS}}}DigitalSourceType"
    for element in root.iter():
        if name in element.attrib:
            return element.attrib[name].strip() or None
        if element.tag == name:
            value = (element.text or "").strip() or element.attrib.get(f"{{{_RDF_NS}}}resource", "").strip()
            return value or None
    return None


_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


class DecodeRefused(Exception):
    """The image's pixels would cost more memory to decode than the site allows (``within_decode_budget``)."""


def within_decode_budget(data: bytes) -> bool:
    """Whether the image in ``data`` may be decoded here (read from its header only): what the verify endpoints ask
    before doing any work, so a decompression bomb gets a clear refusal instead of its pixels decoded."""
    try:
        _decode_image(data, header_only=True)
    except DecodeRefused:
        return False
    return True


def _decode_image(data: bytes, *, header_only: bool = False) -> Image.Image | None:
    """The decoded image, or None when it is not one we read. Raises ``DecodeRefused`` for a decompression bomb:
    refused from its header (size and mode), before any pixel is decoded."""
    from socialapp.uploads import within_decode_budget

    try:
        # No context manager: closing an Image frees its pixels, so it would need a copy (another full decode's
        # worth of memory); the bytes are in memory already and there is no file to close.
        opened = Image.open(io.BytesIO(data), formats=list(_FORMATS.values()))
        if opened.format == "JPEG":
            opened.draft("RGB", (_CANONICAL_SIDE * 2, _CANONICAL_SIDE * 2))  # decode big JPEGs at a reduced scale
    except Exception:  # Pillow raises many types for hostile files; any of them means "not an image we read"
        return None
    if not within_decode_budget(opened):
        raise DecodeRefused
    if header_only:
        return None
    try:
        opened.load()
    except Exception:
        return None
    return opened


def read_credentials(
    data: bytes, *, mime_type: str = "image/jpeg", trust_anchors_pem: bytes | None = None
) -> dict[str, Any]:
    """Everything an image says about its provenance, read with c2pa's own Reader plus our XMP and watermark checks.

    ``state`` is c2pa's validation state: "trusted" (signature valid, signer chains to a trust anchor), "valid"
    (intact, signer not on the trust list: ``failures`` then holds ``signingCredential.untrusted``), "invalid"
    (``failures`` says why, e.g. ``assertion.dataHash.mismatch``), or None without a manifest. Trust anchors are
    ``trust_anchors_pem``, else the file named by ``REMIX_C2PA_TRUST_ANCHORS``. Never raises, never fetches.
    """
    result: dict[str, Any] = {
        "present": False,
        "state": None,
        "failures": [],
        "title": None,
        "actions": [],
        "digital_source_type": None,
        "training_mining": None,
        "ingredients": [],
        "software_agent": None,
        "source_url": None,
        "claim_generator": None,
        "iptc_digital_source_type": None,
        "watermark_job_id": None,
    }
    anchors = trust_anchors_pem if trust_anchors_pem is not None else _configured_trust_anchors()
    try:
        reader = c2pa.Reader.try_create(mime_type, io.BytesIO(data), context=_reader_context(anchors))
        if reader is not None:
            with reader:
                store = json.loads(reader.json())
                results = reader.get_validation_results() or {}
                state = reader.get_validation_state()
            result.update(_summarise_manifest(store))
            result["present"] = True
            result["state"] = state.lower() if state else None
            result["failures"] = [str(f.get("code")) for f in (results.get("activeManifest") or {}).get("failure", [])]
    except Exception:  # c2pa raises C2paError subclasses (and ValueError/TypeError) for hostile files
        logger.info("c2pa could not read an uploaded file", exc_info=True)

    try:
        image = _decode_image(data)
    except DecodeRefused:  # a decompression bomb: its metadata and watermark stay unread
        image = None
    if image is not None:
        info = image.info
        result["iptc_digital_source_type"] = _xmp_digital_source_type(info.get("xmp") or info.get("XML:com.adobe.xmp"))
        result["watermark_job_id"] = read_watermark(image)
    return result

"""The diffusion pipeline behind remixes: load a model once, fit a still to it, run an edit.

This is the only module in the project that touches torch, diffusers or transformers, and it imports them
inside functions only, so ``import remix.pipeline`` (the web process, migrations, most tests) stays light.

Two architectures are supported, picked from the model's own ``model_index.json``:

- ``instruct-pix2pix``: ``StableDiffusionInstructPix2PixPipeline`` (the default model, timbrooks/instruct-pix2pix);
- ``flux-kontext``: ``FluxKontextPipeline`` (FLUX.1 Kontext).

``build_tiny_model`` writes a random-weight pipeline of the same real classes (the way diffusers' own tests build
``get_dummy_components()``), so tests and the embedded demo load a model through exactly the production path,
``from_pretrained``, without downloading anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

ARCH_INSTRUCT_PIX2PIX = "instruct-pix2pix"
ARCH_FLUX_KONTEXT = "flux-kontext"

# model_index.json `_class_name` → our architecture name.
PIPELINE_ARCHS = {
    "StableDiffusionInstructPix2PixPipeline": ARCH_INSTRUCT_PIX2PIX,
    "FluxKontextPipeline": ARCH_FLUX_KONTEXT,
}

# The published defaults of each model card (IP2P: Brooks et al.; Kontext: BFL's example).
DEFAULT_STEPS = {ARCH_INSTRUCT_PIX2PIX: 20, ARCH_FLUX_KONTEXT: 28}
DEFAULT_GUIDANCE_SCALE = {ARCH_INSTRUCT_PIX2PIX: 7.5, ARCH_FLUX_KONTEXT: 2.5}
DEFAULT_IMAGE_GUIDANCE_SCALE = 1.5
# Working size (long side) when neither the folder's remix metadata nor its configs say otherwise.
DEFAULT_RESOLUTION = {ARCH_INSTRUCT_PIX2PIX: 512, ARCH_FLUX_KONTEXT: 1024}
DEFAULT_MAX_SEQUENCE_LENGTH = 512  # Kontext's T5 prompt length

# Small facts about a model folder that its diffusers configs cannot hold (written by build_tiny_model,
# optional for any other model): remix_resolution, remix_max_sequence_length.
REMIX_METADATA_FILE = "remix_model.json"


class ModelUnavailable(Exception):
    """The model could not be loaded (missing folder, bad files, unknown architecture)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class EditInterrupted(Exception):
    """on_progress asked to stop; the diffusion stopped early."""


class _StopDenoising(Exception):
    """Raised from the step callback of a pipeline that does not honour ``_interrupt``."""


@dataclass(frozen=True)
class EditResult:
    image: Image.Image  # RGB, the size of fit(input)
    model_seconds: float  # wall time of the pipeline call
    steps: int
    params: dict[str, Any]  # what the model was given, JSON-serializable


@dataclass(eq=False)
class RemixPipeline:
    """A loaded diffusers pipeline plus what callers need to know about it. Build with ``load``."""

    pipe: Any = field(repr=False)
    arch: str
    model_id: str
    revision: str
    device: str
    dtype_name: str
    resolution: int
    size_factor: int  # both sides of a fitted image are a multiple of this
    max_sequence_length: int = DEFAULT_MAX_SEQUENCE_LENGTH
    # A diffusers pipeline keeps per-call state (scheduler timesteps, _interrupt): one edit at a time.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, model: str, *, revision: str | None = None, device: str | None = None) -> RemixPipeline:
        """Load ``model`` (a local folder or a hub id) with ``from_pretrained``.

        A folder is read with ``local_files_only``; a hub id honours ``HF_HUB_OFFLINE`` (then only the local
        cache is used). The pipeline class comes from the model's ``model_index.json``. CUDA with bfloat16 when
        available (or asked for), else CPU float32. Raises ModelUnavailable with a sentence, never anything else.
        """
        if not model:
            raise ModelUnavailable("No model is configured (REMIX_MODEL is empty).")
        try:
            return cls._load(model, revision=revision or None, device=device or None)
        except ModelUnavailable:
            raise
        except Exception as exc:  # from_pretrained raises OSError, ValueError, safetensors errors, KeyError...
            raise ModelUnavailable(f"The model {model!r} could not be loaded: {_one_line(exc)}") from exc

    @classmethod
    def _load(cls, model: str, *, revision: str | None, device: str | None) -> RemixPipeline:
        folder = Path(model).expanduser()
        from_hub = False
        if folder.is_dir():
            index_path = folder / "model_index.json"
            if not index_path.is_file():
                raise ModelUnavailable(f"The folder {model} has no model_index.json, so it is not a diffusers model.")
            source = str(folder)
            local_only = True
            resolved_revision = _folder_revision(folder)
        elif _looks_like_path(model):
            raise ModelUnavailable(
                f"The model folder {model} does not exist (manage.py remix_build_tiny_model {model} builds a tiny one)."
            )
        else:
            index_path, local_only, resolved_revision = _hub_model_index(model, revision)
            source = model
            from_hub = True

        index = _read_model_index(index_path, model)
        class_name = index.get("_class_name")
        arch = PIPELINE_ARCHS.get(str(class_name))
        if arch is None:
            supported = ", ".join(sorted(PIPELINE_ARCHS))
            raise ModelUnavailable(f"The model {model!r} is a {class_name!r}; only {supported} are supported.")
        metadata = _read_metadata(index_path.parent)

        _before_torch_import()
        import torch

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelUnavailable(f"The device {device!r} was asked for, but CUDA is not available here.")
        on_cuda = device.startswith("cuda")
        dtype = torch.bfloat16 if on_cuda else torch.float32

        import diffusers

        pipeline_class = getattr(diffusers, str(class_name))
        from diffusers.utils import is_accelerate_available

        _quiet_progress_bars()
        kwargs: dict[str, Any] = {
            "dtype": dtype,  # diffusers 0.42 deprecates `torch_dtype`
            "local_files_only": local_only,
            # Streaming weights into place needs accelerate; without it say so here, not in a warning per load.
            "low_cpu_mem_usage": is_accelerate_available(),
        }
        if from_hub:
            # A hub model: load the very commit whose model_index.json we read (when the cache layout told us).
            kwargs["revision"] = resolved_revision if _is_commit_hash(resolved_revision) else revision
        if arch == ARCH_INSTRUCT_PIX2PIX:
            # Moderation of outputs is the worker's job (remix.moderation); also skips downloading the checker.
            kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        # diffusers' default attention processor is already SDPA (AttnProcessor2_0) on torch 2.
        pipe = pipeline_class.from_pretrained(source, **kwargs)
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        if on_cuda:
            # Convolutions (UNet, VAE) run faster in NHWC on tensor cores.
            for name in ("unet", "vae"):
                module = getattr(pipe, name, None)
                if module is not None:
                    module.to(memory_format=torch.channels_last)

        if arch == ARCH_INSTRUCT_PIX2PIX:
            size_factor = int(pipe.vae_scale_factor)
            config_resolution = int(pipe.unet.config.sample_size) * size_factor
        else:
            # Flux packs latents into 2x2 patches, so sides are a multiple of twice the VAE factor (16).
            size_factor = int(pipe.vae_scale_factor) * 2
            config_resolution = int(getattr(pipe.vae.config, "sample_size", 0) or DEFAULT_RESOLUTION[arch])
        resolution = int(metadata.get("remix_resolution") or config_resolution)
        resolution = max(size_factor, resolution // size_factor * size_factor)
        return cls(
            pipe=pipe,
            arch=arch,
            model_id=model,
            revision=resolved_revision,
            device=device,
            dtype_name="bfloat16" if on_cuda else "float32",
            resolution=resolution,
            size_factor=size_factor,
            max_sequence_length=int(metadata.get("remix_max_sequence_length") or DEFAULT_MAX_SEQUENCE_LENGTH),
        )

    def fit(self, image: Image.Image) -> Image.Image:
        """The image the model works on: RGB, upright, long side = resolution, both sides a multiple of the
        model's size factor (at least one factor), aspect ratio kept as closely as that allows."""
        image = ImageOps.exif_transpose(image).convert("RGB")
        width, height = image.size
        scale = self.resolution / max(width, height)
        factor = self.size_factor
        size = (
            max(factor, round(width * scale / factor) * factor),
            max(factor, round(height * scale / factor) * factor),
        )
        if size == image.size:
            return image
        return image.resize(size, Image.Resampling.LANCZOS)

    def edit(
        self,
        image: Image.Image,
        *,
        prompt: str,
        seed: int,
        steps: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        on_progress: Callable[[float], bool] | None = None,
    ) -> EditResult:
        """Edit ``fit(image)`` following ``prompt``. The same seed gives the same pixels on the same device.

        ``on_progress(fraction)`` is called after every denoising step (the last call gets 1.0); when it returns
        False the loop stops at that step and EditInterrupted is raised. Each architecture gets only the
        parameters it understands (Kontext has no image guidance).
        """
        import torch

        fitted = self.fit(image)
        width, height = fitted.size
        steps = int(steps or DEFAULT_STEPS[self.arch])
        guidance = float(guidance_scale if guidance_scale is not None else DEFAULT_GUIDANCE_SCALE[self.arch])
        params: dict[str, Any] = {
            "arch": self.arch,
            "model": self.model_id,
            "revision": self.revision,
            "device": self.device,
            "dtype": self.dtype_name,
            "seed": int(seed),
            "steps": steps,
            "guidance_scale": guidance,
            "width": width,
            "height": height,
        }
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        kwargs: dict[str, Any] = {
            "image": fitted,
            "prompt": prompt,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "generator": generator,
            "output_type": "pil",
        }
        if self.arch == ARCH_INSTRUCT_PIX2PIX:
            image_guidance = float(
                image_guidance_scale if image_guidance_scale is not None else DEFAULT_IMAGE_GUIDANCE_SCALE
            )
            kwargs["image_guidance_scale"] = image_guidance
            params["image_guidance_scale"] = image_guidance
        else:
            # Kontext rescales to max_area and, with _auto_resize, snaps the input to its preferred sizes; we
            # already fitted the image, so ask for exactly that size.
            kwargs.update(
                width=width,
                height=height,
                max_area=width * height,
                _auto_resize=False,
                max_sequence_length=self.max_sequence_length,
            )

        interrupted = False
        # FluxKontextPipeline checks `_interrupt` every step (diffusers' supported way to stop); the IP2P pipeline
        # has no such check, so there the callback stops the loop by raising.
        honours_interrupt = hasattr(type(self.pipe), "interrupt")

        def step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            nonlocal interrupted
            total = max(1, len(pipe.scheduler.timesteps))
            if on_progress is not None and on_progress(min(1.0, (step + 1) / total)) is False:
                interrupted = True
                pipe._interrupt = True
                if not honours_interrupt:
                    raise _StopDenoising
            return callback_kwargs

        with self._lock:
            started = time.perf_counter()
            with contextlib.suppress(_StopDenoising):
                output = self.pipe(**kwargs, callback_on_step_end=step_end)
            model_seconds = time.perf_counter() - started
        if interrupted:
            raise EditInterrupted(f"Stopped by the progress callback after {model_seconds:.2f} s.")
        result = output.images[0].convert("RGB")
        if result.size != fitted.size:
            result = result.resize(fitted.size, Image.Resampling.LANCZOS)
        return EditResult(image=result, model_seconds=model_seconds, steps=steps, params=params)


def _before_torch_import() -> None:
    """Process settings torch reads once, at its first import (only this module imports it).

    The CPU build's OpenMP threads spin while they wait for work. On a small machine where two torch processes
    meet (a worker next to a test run, two workers), the spinners starve each other: an edit that takes 0.5 s
    took 5-45 s. Passive waiting costs a few percent and removes that cliff; OMP_WAIT_POLICY=ACTIVE restores it.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _quiet_progress_bars() -> None:
    """Loading and saving bars are noise in a worker's log and in tests; the hub's download bars stay."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _looks_like_path(model: str) -> bool:
    """Hub ids are ``name`` or ``owner/name``; anything else is meant as a folder."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or os.sep in model.replace("/", "")


def _read_model_index(path: Path, model: str) -> dict[str, Any]:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnavailable(f"The model_index.json of {model!r} is not readable JSON ({_one_line(exc)}).") from exc
    if not isinstance(index, dict):
        raise ModelUnavailable(f"The model_index.json of {model!r} is not a JSON object.")
    return index


def _read_metadata(folder: Path) -> dict[str, Any]:
    try:
        metadata = json.loads((folder / REMIX_METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return metadata if isinstance(metadata, dict) else {}


def _folder_revision(folder: Path) -> str:
    """A stable short id of a local model: model_index.json's content plus every file's name and size.

    Names and sizes, not contents: hashing gigabytes of weights at every worker start would cost seconds, and a
    retrained model of the same shape is rare enough in a local folder to accept the blind spot.
    """
    digest = hashlib.sha256((folder / "model_index.json").read_bytes())
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            digest.update(f"\n{relative.as_posix()}\t{path.stat().st_size}".encode())
    return digest.hexdigest()[:12]


def _hub_model_index(model: str, revision: str | None) -> tuple[Path, bool, str]:
    """Fetch (or find in the cache) a hub model's model_index.json: its path, whether to stay offline, and the
    resolved revision (the snapshot's commit hash when the cache layout shows it)."""
    from huggingface_hub import constants, hf_hub_download

    offline = bool(constants.HF_HUB_OFFLINE)
    try:
        path = Path(hf_hub_download(model, "model_index.json", revision=revision, local_files_only=offline))
    except Exception as exc:  # RepositoryNotFoundError, LocalEntryNotFoundError, HFValidationError...
        where = "in the local cache (HF_HUB_OFFLINE is set)" if offline else "on the hub"
        raise ModelUnavailable(f"The model {model!r} was not found {where}: {_one_line(exc)}") from exc
    snapshot = path.parent.name
    return path, offline, snapshot if _is_commit_hash(snapshot) else (revision or "main")


def _is_commit_hash(value: str) -> bool:
    return len(value) == 40 and all(c in "0123456789abcdef" for c in value)


_cache_lock = threading.Lock()
_cached: tuple[tuple[str, str, str], RemixPipeline] | None = None


def get_pipeline() -> RemixPipeline:
    """The process-wide pipeline for settings.REMIX_MODEL (+ REMIX_MODEL_REVISION, REMIX_DEVICE, each optional),
    loaded on first use and kept resident; loaded again only if those settings change. Raises ModelUnavailable
    (and tries again on the next call)."""
    global _cached
    from django.conf import settings

    key = (
        str(getattr(settings, "REMIX_MODEL", "") or ""),
        str(getattr(settings, "REMIX_MODEL_REVISION", "") or ""),
        str(getattr(settings, "REMIX_DEVICE", "") or ""),
    )
    with _cache_lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        _cached = None  # drop the old model before loading another (GPU memory)
        pipeline = RemixPipeline.load(key[0], revision=key[1] or None, device=key[2] or None)
        _cached = (key, pipeline)
        return pipeline


def reset_pipeline_cache() -> None:
    """Forget the resident pipeline (tests; a worker switching models)."""
    global _cached
    with _cache_lock:
        _cached = None


# --- tiny random-weight models -------------------------------------------------------------------------------

TINY_RESOLUTION = {ARCH_INSTRUCT_PIX2PIX: 64, ARCH_FLUX_KONTEXT: 64}
TINY_MAX_SEQUENCE_LENGTH = 32
# A few merges and words so that the tiny tokenizers exercise real BPE/Unigram merging, not only single bytes.
_TINY_WORDS = ("the", "a", "make", "it", "put", "her", "him", "on", "beach", "into", "watercolour", "cat", "dog")


def build_tiny_model(target: Path, *, arch: str = ARCH_INSTRUCT_PIX2PIX, seed: int = 0) -> Path:
    """Write a tiny random-weight pipeline of the real diffusers/transformers classes into ``target``.

    Built like diffusers' own ``get_dummy_components()``, with tokenizers made here (no download): a byte-level
    BPE CLIP tokenizer from a vocab.json + merges.txt written on the spot and, for Kontext, a Unigram T5
    tokenizer. Saved with ``save_pretrained`` (safetensors) plus ``remix_model.json``. The same seed gives the
    same weights. Returns ``target``. Raises ValueError for an unknown arch.
    """
    if arch not in DEFAULT_STEPS:
        raise ValueError(f"Unknown arch {arch!r}; expected one of {', '.join(DEFAULT_STEPS)}.")
    _before_torch_import()
    import torch

    target = Path(target)
    # Do not disturb the caller's global RNG: constructors draw their initial weights from it.
    with torch.random.fork_rng(devices=[]):
        pipe = _tiny_instruct_pix2pix(seed) if arch == ARCH_INSTRUCT_PIX2PIX else _tiny_flux_kontext(seed)
    target.mkdir(parents=True, exist_ok=True)
    _quiet_progress_bars()
    pipe.save_pretrained(target, safe_serialization=True)
    metadata = {
        "remix_resolution": TINY_RESOLUTION[arch],
        "remix_max_sequence_length": TINY_MAX_SEQUENCE_LENGTH,
        "remix_tiny": True,
        "remix_arch": arch,
        "remix_seed": seed,
    }
    (target / REMIX_METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return target


def _tiny_clip_tokenizer() -> Any:
    """A CLIP byte-level BPE tokenizer over every byte, with a handful of merges, built from files we write."""
    from transformers import CLIPTokenizer

    symbols = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in [*symbols, *(s + "</w>" for s in symbols)]:
        vocab[token] = len(vocab)
    merges: list[str] = []
    for word in _TINY_WORDS:
        # Merge each word left to right: "t h", "th e</w>": the last symbol carries CLIP's end-of-word suffix.
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            merge = f"{pieces[0]} {pieces[1]}"
            if merge not in merges:
                merges.append(merge)
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
            vocab.setdefault(pieces[0], len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch, "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        Path(scratch, "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        # CLIPTokenizer(vocab_file=...) silently ignores the files in transformers 5; from_pretrained reads them.
        return CLIPTokenizer.from_pretrained(scratch, model_max_length=77, local_files_only=True)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, codes, strict=True)}


def _tiny_t5_tokenizer() -> Any:
    """A T5 Unigram tokenizer: the special tokens, every printable ASCII character alone and word-initial, and a
    few whole words (which score higher, so they win over spelling)."""
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    for code in range(ord("!"), ord("~") + 1):
        pieces += [(chr(code), -6.0), ("▁" + chr(code), -5.0)]
    pieces += [("▁" + word, -3.0) for word in _TINY_WORDS]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


def _tiny_clip_text_model(seed: int, tokenizer: Any) -> Any:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(tokenizer),
        max_position_embeddings=tokenizer.model_max_length,
        hidden_act="gelu",
        projection_dim=32,
    )
    return CLIPTextModel(config).eval()


def _tiny_instruct_pix2pix(seed: int) -> Any:
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionInstructPix2PixPipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=8,  # 4 noisy latent channels + 4 channels of the encoded input image
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=TINY_RESOLUTION[ARCH_INSTRUCT_PIX2PIX],
    )
    tokenizer = _tiny_clip_tokenizer()
    text_encoder = _tiny_clip_text_model(seed + 2, tokenizer)
    # The scheduler timbrooks/instruct-pix2pix ships with.
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    return StableDiffusionInstructPix2PixPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )


def _tiny_flux_kontext(seed: int) -> Any:
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    latent_channels = 4  # FLUX.1 has 16; packed 2x2, so the transformer sees 4x that
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=latent_channels * 4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=True,  # FLUX.1 Kontext [dev] is guidance-distilled
        axes_dims_rope=(4, 4, 8),
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(16, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=8,
        use_quant_conv=False,  # as FLUX.1's VAE
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
        sample_size=TINY_RESOLUTION[ARCH_FLUX_KONTEXT],
    )
    tokenizer = _tiny_clip_tokenizer()
    text_encoder = _tiny_clip_text_model(seed + 2, tokenizer)
    tokenizer_2 = _tiny_t5_tokenizer()
    torch.manual_seed(seed + 3)
    text_encoder_2 = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer_2),
            d_model=32,  # = the transformer's joint_attention_dim
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer_2.pad_token_id,
            eos_token_id=tokenizer_2.eos_token_id,
        )
    ).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15, use_dynamic_shifting=True
    )
    return FluxKontextPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
        image_encoder=None,
        feature_extractor=None,
    )

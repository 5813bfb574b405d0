"""The diffusion pipeline behind remixes: load a model once, fit a still to it, run an edit (or a batch of them).

This is the only module in the project that touches torch, diffusers or transformers, and it imports them
inside functions only, so ``import remix.pipeline`` (the web process, migrations, most tests) stays light. It does
not need Django either, except ``get_pipeline``/``warm_pipeline``, which read the REMIX_* settings: ``bench/gpu.py``
loads models with ``RemixPipeline.load`` on a machine without Django.

Two architectures are supported, picked from the model's own ``model_index.json``:

- ``instruct-pix2pix``: ``StableDiffusionInstructPix2PixPipeline`` (the default model, timbrooks/instruct-pix2pix);
- ``flux-kontext``: ``FluxKontextPipeline`` (FLUX.1 Kontext).

``build_tiny_model`` writes a random-weight pipeline of the same real classes (the way diffusers' own tests build
``get_dummy_components()``), so tests and the embedded demo load a model through exactly the production path,
``from_pretrained``, without downloading anything.

Speed on CUDA (bf16, SDPA attention, and see ``Optimizations``): images are snapped to a few fixed sizes
(``buckets``), so queued jobs of one bucket run as one batch (``edit_batch``) and a compiled model sees a handful
of shapes, all compiled by ``warm_up`` before the first request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

ARCH_INSTRUCT_PIX2PIX = "instruct-pix2pix"
ARCH_FLUX_KONTEXT = "flux-kontext"

# model_index.json `_class_name` → our architecture name.
PIPELINE_ARCHS = {
    "StableDiffusionInstructPix2PixPipeline": ARCH_INSTRUCT_PIX2PIX,
    "FluxKontextPipeline": ARCH_FLUX_KONTEXT,
}
ARCH_PIPELINE_CLASSES = {arch: name for name, arch in PIPELINE_ARCHS.items()}

# The published defaults of each model card (IP2P: Brooks et al.; Kontext: BFL's example).
DEFAULT_STEPS = {ARCH_INSTRUCT_PIX2PIX: 20, ARCH_FLUX_KONTEXT: 28}
DEFAULT_GUIDANCE_SCALE = {ARCH_INSTRUCT_PIX2PIX: 7.5, ARCH_FLUX_KONTEXT: 2.5}
DEFAULT_IMAGE_GUIDANCE_SCALE = 1.5
# Working size (long side) when neither the folder's remix metadata nor its configs say otherwise.
DEFAULT_RESOLUTION = {ARCH_INSTRUCT_PIX2PIX: 512, ARCH_FLUX_KONTEXT: 1024}
DEFAULT_MAX_SEQUENCE_LENGTH = 512  # Kontext's T5 prompt length

# Small facts about a model folder that its diffusers configs cannot hold (written by build_tiny_model,
# optional for any other model): remix_name (the public id shown and signed instead of the folder's path),
# remix_resolution, remix_max_sequence_length.
REMIX_METADATA_FILE = "remix_model.json"

# The working sizes ("buckets"): long side = the model's resolution, short side from one of these aspect ratios
# (short:long), in both orientations. Every image is stretched to the bucket nearest its own aspect ratio, and the
# worker scales the result back for display. The common formats (1:1, 4:5, 3:4, 2:3, 9:16 and their transposes)
# land on a bucket up to the rounding of the short side to the model's grid (under 1%); an aspect in between is
# stretched by at most about 6% (halfway between 1:1 and 8:9, or between 3:4 and 2:3), which an edit does not
# show once scaled back. Only sources beyond 9:16 (panoramas, long screenshots) are stretched more. What that buys:
# a compiled model sees a dozen shapes, all compiled at warm-up instead of recompiling (seconds to minutes) for a
# new size mid-traffic, and queued jobs of one bucket can share one batch. A denser set would cut the stretch
# but multiply the shapes to compile and split the queue into more, smaller batches.
BUCKET_ASPECTS = ((1, 1), (8, 9), (4, 5), (3, 4), (2, 3), (3, 5), (9, 16))

# torch.compile's mode. Not "reduce-overhead" (CUDA graphs): a graph is recorded per shape and per thread, pins
# its static input/output buffers for every (bucket, batch size), and is silently re-recorded when the worker
# calls from another thread than warm-up's. Dynamic batching already amortises launch overhead at the batch sizes
# where throughput is made, so what is left to gain is kernel quality: Inductor's fusions plus autotuned GEMM and
# convolution kernels (cuBLAS/cuDNN stay candidates, so never worse). The price is compile time per shape, paid
# at warm-up and cached on disk by Inductor for the next worker start.
COMPILE_MODE = "max-autotune-no-cudagraphs"
# Denoising steps of a warm-up edit: enough to run the whole loop (first and later steps) and the VAE.
WARM_UP_STEPS = 2
DEFAULT_WARM_BATCH_SIZES = (1, 2, 4, 8)


class ModelUnavailable(Exception):
    """The model could not be loaded (missing folder, bad files, unknown architecture)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class EditInterrupted(Exception):
    """on_progress asked to stop (every item of the batch); the diffusion stopped early."""


class _StopDenoising(Exception):
    """Raised from the step callback to leave the denoising loop at once (and skip the VAE decode)."""


@dataclass(frozen=True)
class Optimizations:
    """What ``load`` does on top of diffusers' defaults (bf16 and SDPA attention are always on, on CUDA).

    ``load`` without ``optimizations`` picks ``for_device``: everything but ``compile`` (REMIX_COMPILE) on CUDA,
    nothing on CPU, whose float32 path tests and the demo rely on. Asked for explicitly, each applies on any
    device (``bench/gpu.py`` turns them on one at a time to show the gain of each).
    """

    backend_flags: bool = True  # TF32 for float32 matmuls and convolutions, cuDNN autotuning per shape (CUDA)
    channels_last: bool = True  # NHWC UNet and VAE: what tensor-core convolutions want
    fused_qkv: bool = True  # one projection GEMM for q, k and v (k and v in cross-attention), UNet/transformer/VAE
    compile: bool = False  # torch.compile the UNet (IP2P) or the transformer's blocks (Kontext)
    compile_mode: str = COMPILE_MODE

    @classmethod
    def none(cls) -> Optimizations:
        """Plain diffusers (the baseline a benchmark compares against)."""
        return cls(backend_flags=False, channels_last=False, fused_qkv=False, compile=False)

    @classmethod
    def for_device(cls, device: str, *, compile: bool = False) -> Optimizations:
        return cls(compile=compile) if device.startswith("cuda") else cls.none()

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        if not self.compile:
            values.pop("compile_mode")
        return values


@dataclass(frozen=True)
class EditResult:
    image: Image.Image  # RGB, the size of fit(input): the bucket the input was snapped to
    model_seconds: float  # wall time of the pipeline call (of the whole batch it ran in)
    steps: int
    params: dict[str, Any]  # what the model was given, JSON-serializable
    batch_size: int = 1  # how many items that pipeline call ran (padding included)


# What edit_batch's on_progress returns: one answer for the batch, or one per item (None counts as True).
ProgressCallback = Callable[[float], list[bool] | bool | None]


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
    optimizations: Optimizations = field(default_factory=Optimizations.none)
    # Batch sizes warm_up compiles; a compiled model pads a batch up to the next of these instead of compiling.
    warm_batch_sizes: tuple[int, ...] = (1,)
    # A diffusers pipeline keeps per-call state (scheduler timesteps, _interrupt): one call at a time.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _warmed: set[tuple[int, int, int]] = field(default_factory=set, repr=False)  # (width, height, batch)

    @classmethod
    def load(
        cls,
        model: str,
        *,
        revision: str | None = None,
        device: str | None = None,
        optimizations: Optimizations | None = None,
        warm_batch_sizes: Sequence[int] | None = None,
    ) -> RemixPipeline:
        """Load ``model`` (a local folder or a hub id) with ``from_pretrained``.

        A folder is read with ``local_files_only``; a hub id honours ``HF_HUB_OFFLINE`` (then only the local
        cache is used). The pipeline class comes from the model's ``model_index.json``. CUDA with bfloat16 when
        available (or asked for), else CPU float32; ``optimizations`` default to ``Optimizations.for_device``.
        Needs no Django settings. Raises ModelUnavailable with a sentence, never anything else.
        """
        if not model:
            raise ModelUnavailable("No model is configured (REMIX_MODEL is empty).")
        try:
            return cls._load(
                model,
                revision=revision or None,
                device=device or None,
                optimizations=optimizations,
                warm_batch_sizes=warm_batch_sizes,
            )
        except ModelUnavailable:
            raise
        except Exception as exc:  # from_pretrained raises OSError, ValueError, safetensors errors, KeyError...
            raise ModelUnavailable(f"The model {model!r} could not be loaded: {_one_line(exc)}") from exc

    @classmethod
    def _load(
        cls,
        model: str,
        *,
        revision: str | None,
        device: str | None,
        optimizations: Optimizations | None,
        warm_batch_sizes: Sequence[int] | None,
    ) -> RemixPipeline:
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

        device = _resolve_device(device)
        dtype = _dtype_for(device)

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
        pipe = pipeline_class.from_pretrained(source, **kwargs)
        # What users, the job's record and the signed manifest call the model: a hub id as it is; a local folder by
        # the name its metadata gives (else the folder's own name), never by its path on this server.
        public_id = model if from_hub else str(metadata.get("remix_name") or folder.name)
        return cls.from_diffusers(
            pipe,
            model_id=public_id,
            revision=resolved_revision,
            device=device,
            optimizations=optimizations,
            warm_batch_sizes=warm_batch_sizes,
            resolution=int(metadata.get("remix_resolution") or 0) or None,
            max_sequence_length=int(metadata.get("remix_max_sequence_length") or 0) or None,
        )

    @classmethod
    def from_diffusers(
        cls,
        pipe: Any,
        *,
        model_id: str,
        revision: str = "in-memory",
        device: str | None = None,
        optimizations: Optimizations | None = None,
        warm_batch_sizes: Sequence[int] | None = None,
        resolution: int | None = None,
        max_sequence_length: int | None = None,
    ) -> RemixPipeline:
        """Wrap a diffusers pipeline object already built (``load`` ends here; ``bench/gpu.py`` uses it for a
        model too big to save and load again): move it to ``device`` in its dtype (bf16 on CUDA), apply
        ``optimizations`` (in place: they cannot be taken back, so wrapping the same object again only adds),
        and work out its resolution and size grid. Raises ValueError for a pipeline class we do not run."""
        arch = PIPELINE_ARCHS.get(type(pipe).__name__)
        if arch is None:
            raise ValueError(f"{type(pipe).__name__} is not one of {', '.join(sorted(PIPELINE_ARCHS))}.")
        device = _resolve_device(device)
        on_cuda = device.startswith("cuda")
        if optimizations is None:
            optimizations = Optimizations.for_device(device)
        # diffusers' default attention processor is already SDPA (AttnProcessor2_0) on torch 2.
        pipe.to(device)
        if pipe.dtype != _dtype_for(device):
            pipe.to(_dtype_for(device))
        pipe.set_progress_bar_config(disable=True)
        _optimize(pipe, arch, optimizations, on_cuda=on_cuda)

        if arch == ARCH_INSTRUCT_PIX2PIX:
            size_factor = int(pipe.vae_scale_factor)
            config_resolution = int(pipe.unet.config.sample_size) * size_factor
        else:
            # Flux packs latents into 2x2 patches, so sides are a multiple of twice the VAE factor (16).
            size_factor = int(pipe.vae_scale_factor) * 2
            config_resolution = int(getattr(pipe.vae.config, "sample_size", 0) or DEFAULT_RESOLUTION[arch])
        resolution = int(resolution or config_resolution)
        resolution = max(size_factor, resolution // size_factor * size_factor)
        sizes = tuple(sorted({int(size) for size in (warm_batch_sizes or DEFAULT_WARM_BATCH_SIZES) if int(size) > 0}))
        pipeline = cls(
            pipe=pipe,
            arch=arch,
            model_id=model_id,
            revision=revision,
            device=device,
            dtype_name="bfloat16" if on_cuda else "float32",
            resolution=resolution,
            size_factor=size_factor,
            max_sequence_length=int(max_sequence_length or DEFAULT_MAX_SEQUENCE_LENGTH),
            optimizations=optimizations,
            warm_batch_sizes=sizes or (1,),
        )
        if optimizations.compile:
            _allow_recompiles(len(pipeline.buckets()) * len(pipeline.warm_batch_sizes))
        return pipeline

    # --- sizes -------------------------------------------------------------------------------------------------

    def buckets(self) -> list[tuple[int, int]]:
        """Every working size (width, height) ``fit`` may produce: square first, then each aspect of
        ``BUCKET_ASPECTS`` landscape and portrait. Long side = resolution; the short side is rounded to the
        model's size factor (never below one factor)."""
        factor, long_side = self.size_factor, self.resolution
        sizes: list[tuple[int, int]] = []
        for short_part, long_part in BUCKET_ASPECTS:
            short_side = max(factor, math.floor(long_side * short_part / long_part / factor + 0.5) * factor)
            for size in ((long_side, short_side), (short_side, long_side)):
                if size not in sizes:
                    sizes.append(size)
        return sizes

    def bucket_for(self, size: tuple[int, int]) -> tuple[int, int]:
        """The bucket an image of ``size`` (width, height, upright) is fitted to: the one whose aspect ratio is
        nearest to it (in log ratio, so 2:1 and 1:2 are equally far from 1:1; ties go to the earlier bucket).
        Raises ValueError for an empty size."""
        width, height = int(size[0]), int(size[1])
        if width <= 0 or height <= 0:
            raise ValueError(f"An image of {width}×{height} has no aspect ratio.")
        aspect = math.log(width / height)
        return min(self.buckets(), key=lambda bucket: abs(math.log(bucket[0] / bucket[1]) - aspect))

    def fit(self, image: Image.Image) -> Image.Image:
        """The image the model works on: RGB, upright, resized to ``bucket_for`` its size (stretched by a few
        percent at most for aspects between 9:16 and 16:9, see ``BUCKET_ASPECTS``). Deterministic; a fitted image
        fits to itself."""
        image = ImageOps.exif_transpose(image).convert("RGB")
        size = self.bucket_for(image.size)
        if size == image.size:
            return image
        return image.resize(size, Image.Resampling.LANCZOS)

    # --- editing -----------------------------------------------------------------------------------------------

    def edit(
        self,
        image: Image.Image,
        *,
        prompt: str,
        seed: int,
        steps: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        on_progress: Callable[[float], bool | None] | None = None,
    ) -> EditResult:
        """Edit ``fit(image)`` following ``prompt``: ``edit_batch`` of one. The same seed gives the same pixels on
        the same device. When ``on_progress`` returns False the loop stops at that step and EditInterrupted is
        raised."""
        [result] = self.edit_batch(
            [image],
            prompts=[prompt],
            seeds=[seed],
            steps=steps,
            guidance_scale=guidance_scale,
            image_guidance_scale=image_guidance_scale,
            on_progress=on_progress,
        )
        assert result is not None  # a single item is only dropped by stopping the whole call
        return result

    def edit_batch(
        self,
        images: Sequence[Image.Image],
        *,
        prompts: Sequence[str],
        seeds: Sequence[int],
        steps: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[EditResult | None]:
        """Edit several images in one call of the model, each with its own prompt and seed: a result per item,
        in order, each the size of its ``fit``.

        Every image must fit the same bucket, and there must be as many prompts and seeds as images (ValueError
        otherwise). Each item draws its noise from its own generator, exactly as a single ``edit`` with that seed
        does; on CPU float32 an item's pixels then match its single edit to within one 8-bit level: the random
        draws are identical, but batched GEMMs and convolutions sum in another order at another batch size
        (differences ~1e-6 that now and then round a pixel the other way). On CUDA, bf16 kernels chosen per batch
        size (and cuDNN's autotuning) can differ by more: the same edit, not the same bits.

        ``on_progress(fraction)`` is called after every denoising step (the last call gets 1.0) with a fraction
        from the step index alone (no device sync). It may return one bool for the whole batch (False: stop now,
        EditInterrupted) or a list with one bool per item: an item that gets False is dropped for good (None in
        its slot). Dropped items ride along to the end of the loop rather than being cut out of the batch:
        cutting would change the batch's shape (a recompile of a compiled model) and needs tensors the Kontext
        pipeline does not hand to callbacks, and it would save only the rest of one batch. When every item is
        dropped the loop stops and EditInterrupted is raised. ``None`` counts as True.

        With a compiled model, a batch is padded up to the next of ``warm_batch_sizes`` (so no request compiles
        a new shape); the padding's results are thrown away. Parameters each architecture does not understand
        are not passed (Kontext has no image guidance). ``model_seconds`` is the whole call's wall time.
        """
        import torch

        count = len(images)
        if count == 0:
            raise ValueError("edit_batch needs at least one image.")
        if len(prompts) != count or len(seeds) != count:
            raise ValueError(f"edit_batch got {count} images, {len(prompts)} prompts and {len(seeds)} seeds.")
        fitted = [self.fit(image) for image in images]
        sizes = sorted({image.size for image in fitted})
        if len(sizes) > 1:
            listed = ", ".join(f"{w}×{h}" for w, h in sizes)
            raise ValueError(f"edit_batch needs images of one bucket; these fit {listed}.")
        width, height = sizes[0]
        steps = int(steps or DEFAULT_STEPS[self.arch])
        guidance = float(guidance_scale if guidance_scale is not None else DEFAULT_GUIDANCE_SCALE[self.arch])
        base_params: dict[str, Any] = {
            "arch": self.arch,
            "model": self.model_id,
            "revision": self.revision,
            "device": self.device,
            "dtype": self.dtype_name,
            "steps": steps,
            "guidance_scale": guidance,
            "width": width,
            "height": height,
        }
        run_size = self.padded_batch_size(count)
        if self.optimizations.compile and (width, height, run_size) not in self._warmed:
            logger.warning(
                "remix pipeline: compiling for %d×%d at batch %d mid-traffic (not warmed up; warm batch sizes %s)",
                width,
                height,
                run_size,
                list(self.warm_batch_sizes),
            )
        padding = run_size - count
        run_images = fitted + [fitted[-1]] * padding
        run_prompts = [str(prompt) for prompt in prompts] + [str(prompts[-1])] * padding
        run_seeds = [int(seed) for seed in seeds] + [int(seeds[-1])] * padding
        # One generator per item: diffusers' randn_tensor draws item i's noise from generators[i] alone.
        generators = [torch.Generator(device=self.device).manual_seed(seed) for seed in run_seeds]
        kwargs: dict[str, Any] = {
            "image": run_images,
            "prompt": run_prompts,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "generator": generators,
            "output_type": "pil",
        }
        if self.arch == ARCH_INSTRUCT_PIX2PIX:
            image_guidance = float(
                image_guidance_scale if image_guidance_scale is not None else DEFAULT_IMAGE_GUIDANCE_SCALE
            )
            kwargs["image_guidance_scale"] = image_guidance
            base_params["image_guidance_scale"] = image_guidance
        else:
            # Kontext rescales to max_area and, with _auto_resize, snaps the input to its preferred sizes; we
            # already fitted the images, so ask for exactly that size.
            kwargs.update(
                width=width,
                height=height,
                max_area=width * height,
                _auto_resize=False,
                max_sequence_length=self.max_sequence_length,
            )

        live = [True] * count
        stopped = False

        def step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            # Host-side only: no .item(), no tensor leaves the device, so the GPU's queue of kernels keeps running.
            nonlocal stopped
            if on_progress is None:
                return callback_kwargs
            total = max(1, len(pipe.scheduler.timesteps))  # a shape, not a value: no sync
            answer = on_progress(min(1.0, (step + 1) / total))
            if isinstance(answer, bool | type(None)):
                if answer is False:
                    live[:] = [False] * count
            else:
                answers = list(answer)
                if len(answers) != count:
                    raise ValueError(f"on_progress answered {len(answers)} items for a batch of {count}.")
                for index, keep in enumerate(answers):
                    if keep is False:
                        live[index] = False
            if not any(live):
                stopped = True
                raise _StopDenoising
            return callback_kwargs

        with self._lock:
            started = time.perf_counter()
            with contextlib.suppress(_StopDenoising):
                output = self.pipe(**kwargs, callback_on_step_end=step_end)
            model_seconds = time.perf_counter() - started
            self._warmed.add((width, height, run_size))
        if stopped:
            raise EditInterrupted(f"Stopped by the progress callback after {model_seconds:.2f} s.")
        results: list[EditResult | None] = []
        for index in range(count):
            if not live[index]:
                results.append(None)
                continue
            image = output.images[index].convert("RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.LANCZOS)
            results.append(
                EditResult(
                    image=image,
                    model_seconds=model_seconds,
                    steps=steps,
                    params={**base_params, "seed": run_seeds[index]},
                    batch_size=run_size,
                )
            )
        return results

    def padded_batch_size(self, count: int) -> int:
        """The batch size ``edit_batch`` runs ``count`` items at: ``count`` itself, except for a compiled model,
        which pads up to the next warm batch size (beyond the largest it runs ``count``, compiling that shape on
        its first use)."""
        if not self.optimizations.compile:
            return count
        return next((size for size in self.warm_batch_sizes if size >= count), count)

    def warm_up(
        self,
        *,
        batch_sizes: Sequence[int] | None = None,
        buckets: Sequence[tuple[int, int]] | None = None,
        steps: int = WARM_UP_STEPS,
    ) -> dict[str, Any]:
        """Run a short edit for every bucket at every batch size, so that no request pays for compilation,
        cuDNN's autotuning of a new shape or lazy CUDA initialisation. Call it in the process that will serve
        (a worker's pool process after fork, never a parent that forks: CUDA does not survive a fork).

        On CUDA ``batch_sizes`` default to ``warm_batch_sizes`` and ``buckets`` to all of ``buckets()``; on CPU
        there is nothing to warm but the model's first call, so to one edit of one item at the first bucket.
        Shapes already run are skipped, so a second call costs nothing. Returns what it did:
        ``{"shapes", "seconds", "compiled"}``.
        """
        on_cuda = self.device.startswith("cuda")
        if batch_sizes is None:
            batch_sizes = self.warm_batch_sizes if on_cuda else (1,)
        if buckets is None:
            buckets = self.buckets() if on_cuda else self.buckets()[:1]
        started = time.perf_counter()
        shapes = 0
        for width, height in buckets:
            blank = Image.new("RGB", (width, height), (128, 128, 128))
            for size in sorted({int(size) for size in batch_sizes}):
                shape = (width, height, self.padded_batch_size(size))
                if shape in self._warmed:
                    continue
                self._warmed.add(shape)  # before the call: compiling here is the point, not a mid-traffic warning
                try:
                    self.edit_batch(
                        [blank] * size, prompts=["warm up"] * size, seeds=list(range(size)), steps=max(1, steps)
                    )
                except BaseException:
                    self._warmed.discard(shape)
                    raise
                shapes += 1
        seconds = time.perf_counter() - started
        if shapes:
            logger.info(
                "remix pipeline warmed up: %d shape(s) in %.1f s (%s, compile=%s)",
                shapes,
                seconds,
                self.device,
                self.optimizations.compile,
            )
        return {"shapes": shapes, "seconds": seconds, "compiled": self.optimizations.compile}


def _resolve_device(device: str | None) -> str:
    """The device to run on: ``device`` (checked), else CUDA when present, else CPU. Imports torch."""
    _before_torch_import()
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailable(f"The device {device!r} was asked for, but CUDA is not available here.")
    return device


def _dtype_for(device: str) -> Any:
    import torch

    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def _optimize(pipe: Any, arch: str, optimizations: Optimizations, *, on_cuda: bool) -> None:
    """Apply ``optimizations`` to ``pipe`` in place (idempotent: each step skips what is already done)."""
    import torch

    if on_cuda:
        # Process-wide switches, set both ways so that a benchmark's baseline really is the baseline.
        torch.backends.cuda.matmul.allow_tf32 = optimizations.backend_flags
        torch.backends.cudnn.allow_tf32 = optimizations.backend_flags
        # cuDNN times its algorithms once per new input shape: with buckets and warm-up, that is all at start.
        torch.backends.cudnn.benchmark = optimizations.backend_flags
    denoiser_name = "unet" if arch == ARCH_INSTRUCT_PIX2PIX else "transformer"
    denoiser = getattr(pipe, denoiser_name)
    if optimizations.channels_last:
        # Convolutions (UNet, VAE) run faster in NHWC on tensor cores; the Flux transformer has none.
        for name in ("unet", "vae"):
            module = getattr(pipe, name, None)
            if module is not None:
                module.to(memory_format=torch.channels_last)
    if optimizations.fused_qkv:
        for module in (denoiser, pipe.vae):
            fuse = getattr(module, "fuse_qkv_projections", None)
            if fuse is not None and not getattr(module, "_remix_fused_qkv", False):
                # One wider GEMM instead of three narrow ones per attention (k and v for cross-attention).
                fuse()
                module._remix_fused_qkv = True
    if optimizations.compile and not getattr(denoiser, "_remix_compiled", False):
        import torch._inductor.config as inductor_config

        # 1x1 convolutions as matmuls: the NHWC layout makes them GEMMs Inductor can fuse with their neighbours.
        inductor_config.conv_1x1_as_mm = True
        options: dict[str, Any] = {"mode": optimizations.compile_mode, "fullgraph": True, "dynamic": False}
        if arch == ARCH_INSTRUCT_PIX2PIX:
            denoiser.compile(**options)
        else:
            # Regional compilation: Flux's 57 blocks are two classes, so two compiled graphs serve them all and
            # compile time drops several-fold at the same speed (diffusers' recommended way for Flux).
            denoiser.compile_repeated_blocks(**options)
        denoiser._remix_compiled = True


def _allow_recompiles(shapes: int) -> None:
    """Let dynamo keep a compiled graph per shape (bucket x batch size): past its limit (8 by default) it would
    silently fall back to eager for the rest."""
    import torch._dynamo

    config = torch._dynamo.config
    needed = shapes + 8
    # Renamed in torch 2.6 (cache_size_limit → recompile_limit); the old names remain as aliases.
    for name, value in (("recompile_limit", needed), ("accumulated_recompile_limit", needed * 4)):
        if not hasattr(config, name):
            name = name.replace("recompile_limit", "cache_size_limit")
        if getattr(config, name, value) < value:
            setattr(config, name, value)


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
_cached: tuple[tuple[Any, ...], RemixPipeline] | None = None


def get_pipeline() -> RemixPipeline:
    """The process-wide pipeline for settings.REMIX_MODEL (+ REMIX_MODEL_REVISION, REMIX_DEVICE, REMIX_COMPILE,
    REMIX_WARM_BATCH_SIZES, each optional), loaded on first use and kept resident; loaded again only if those
    settings change. Raises ModelUnavailable (and tries again on the next call)."""
    global _cached
    from django.conf import settings

    compile_denoiser = bool(getattr(settings, "REMIX_COMPILE", False))
    warm_batch_sizes = tuple(int(size) for size in getattr(settings, "REMIX_WARM_BATCH_SIZES", ()) or ())
    key = (
        str(getattr(settings, "REMIX_MODEL", "") or ""),
        str(getattr(settings, "REMIX_MODEL_REVISION", "") or ""),
        str(getattr(settings, "REMIX_DEVICE", "") or ""),
        compile_denoiser,
        warm_batch_sizes,
    )
    with _cache_lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        _cached = None  # drop the old model before loading another (GPU memory)
        device = _resolve_device(key[2] or None)
        if compile_denoiser and device.startswith("cuda") and getattr(settings, "VAR_DIR", None):
            # Inductor's compiled kernels live with the other local state, so a restarted worker finds them.
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(settings.VAR_DIR) / "torchinductor"))
        pipeline = RemixPipeline.load(
            key[0],
            revision=key[1] or None,
            device=device,
            optimizations=Optimizations.for_device(device, compile=compile_denoiser),
            warm_batch_sizes=warm_batch_sizes or None,
        )
        _cached = (key, pipeline)
        return pipeline


def warm_pipeline() -> dict[str, Any]:
    """Load the process-wide pipeline and warm it up (``RemixPipeline.warm_up``): what a worker's pool process
    calls once as it starts, after the fork. Returns warm_up's report; raises ModelUnavailable."""
    return get_pipeline().warm_up()


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
        "remix_name": f"remix-tiny-{arch}",
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
